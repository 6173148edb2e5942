"""Fleet rollouts through the admin API: only administrators reach them; unknown engines
and versions, bad waves and hostile input are refused with 422; a second running rollout
of an engine is 409; pause, resume and abort move a rollout only from the states they
name. The gateway only writes rows: no event is published."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.gateway.conftest import Harness, TestUser

BASE = "/api/v1/admin/rollouts"


async def call(
    gateway: Harness, user: TestUser, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with gateway.client(user).request(method, path, json=body) as resp:
        return resp.status, await resp.json()


def woocommerce_version(gateway: Harness) -> str:
    from shared.engine_versions import load_versions

    return load_versions(gateway.settings.charts_dir, "woocommerce").default


async def test_an_admin_creates_a_rollout_with_the_default_waves(gateway: Harness) -> None:
    admin = await gateway.add_user(admin=True)
    version = woocommerce_version(gateway)

    status, body = await call(
        gateway, admin, "POST", BASE, {"engine": "woocommerce", "version": version}
    )

    assert status == 201, body
    assert body["waves"] == ["1", "5%", "25%", "100%"]
    assert (body["state"], body["current_wave"], body["created_by"]) == ("running", 0, admin.id)
    assert (body["max_concurrent"], body["failure_threshold"], body["pause_seconds"]) == (5, 0, 300)
    status, listed = await call(gateway, admin, "GET", BASE)
    assert [r["id"] for r in listed["items"]] == [body["id"]]
    status, one = await call(gateway, admin, "GET", f"{BASE}/{body['id']}")
    assert status == 200
    assert [w["size"] for w in one["progress"]] == ["1", "5%", "25%", "100%"]
    assert (one["stores"], one["skipped"]) == ([], 0)
    info = await gateway.js.stream_info(gateway.settings.stream_name)
    assert info.state.messages == 0, "the gateway requests no upgrade itself"


async def test_only_admins_reach_rollouts(gateway: Harness) -> None:
    user, admin = await gateway.add_user(), await gateway.add_user(admin=True)
    version = woocommerce_version(gateway)
    _, made = await call(
        gateway, admin, "POST", BASE, {"engine": "woocommerce", "version": version}
    )
    rid = made["id"]
    for method, path in [
        ("POST", BASE),
        ("GET", BASE),
        ("GET", f"{BASE}/{rid}"),
        ("POST", f"{BASE}/{rid}/pause"),
        ("POST", f"{BASE}/{rid}/resume"),
        ("POST", f"{BASE}/{rid}/abort"),
    ]:
        body = {"engine": "woocommerce", "version": version} if path == BASE else None
        status, answer = await call(gateway, user, method, path, body)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, path)
    assert await gateway.pool.fetchval("SELECT state FROM rollouts") == "running"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"engine": "nope"}, "engine", "unknown_engine"),
        ({"version": "9.9.9"}, "version", "unknown_version"),
        ({"version": "{{ .Values.x }}"}, "version", "unknown_version"),
        ({"waves": ["0%", "100%"]}, "waves", "invalid_waves"),
        ({"waves": ["-1", "100%"]}, "waves", "invalid_waves"),
        ({"waves": ["150%"]}, "waves", "invalid_waves"),
        ({"waves": [1, "50%"]}, "waves", "invalid_waves"),
        ({"waves": ["${x}", "100%"]}, "waves", "invalid_waves"),
        ({"waves": [1] * 5_000}, "waves", "invalid"),
        ({"waves": [1.5, "100%"]}, "waves.0.int", "invalid"),
        ({"max_concurrent": 0}, "max_concurrent", "invalid"),
        ({"failure_threshold": 1.5}, "failure_threshold", "invalid"),
        ({"pause_seconds": -1}, "pause_seconds", "invalid"),
        ({"namespace": "x"}, "namespace", "unknown_field"),
    ],
)
async def test_bad_rollouts_are_refused_with_what_is_wrong(
    gateway: Harness, change: dict[str, Any], field: str, code: str
) -> None:
    admin = await gateway.add_user(admin=True)
    body = {"engine": "woocommerce", "version": woocommerce_version(gateway), **change}

    status, answer = await call(gateway, admin, "POST", BASE, body)

    assert status == 422, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["field"].startswith(field.split(".")[0])
    assert await gateway.pool.fetchval("SELECT count(*) FROM rollouts") == 0


async def test_a_huge_body_is_refused_before_it_is_read(gateway: Harness) -> None:
    admin = await gateway.add_user(admin=True)
    body = {"engine": "woocommerce", "version": "1", "waves": [1] * 10_000}

    status, answer = await call(gateway, admin, "POST", BASE, body)

    assert (status, answer["error"]["code"]) == (413, "body_too_large")


async def test_a_second_rollout_of_an_engine_is_refused_until_the_first_ends(
    gateway: Harness,
) -> None:
    admin = await gateway.add_user(admin=True)
    body = {"engine": "woocommerce", "version": woocommerce_version(gateway)}
    _, first = await call(gateway, admin, "POST", BASE, body)

    status, answer = await call(gateway, admin, "POST", BASE, body)
    assert (status, answer["error"]["code"]) == (409, "rollout_in_progress")
    await call(gateway, admin, "POST", f"{BASE}/{first['id']}/pause")
    status, answer = await call(gateway, admin, "POST", BASE, body)
    assert status == 409, "a paused rollout is still under way"

    await call(gateway, admin, "POST", f"{BASE}/{first['id']}/abort")
    status, second = await call(gateway, admin, "POST", BASE, body)
    assert status == 201 and second["id"] != first["id"]


async def test_pause_resume_and_abort_move_a_rollout_only_from_their_states(
    gateway: Harness,
) -> None:
    admin = await gateway.add_user(admin=True)
    body = {"engine": "woocommerce", "version": woocommerce_version(gateway)}
    _, made = await call(gateway, admin, "POST", BASE, body)
    rid = made["id"]

    status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/resume")
    assert (status, answer["error"]["code"]) == (409, "rollout_not_resumed")
    status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/pause")
    assert (status, answer["state"]) == (200, "paused")
    status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/pause")
    assert (status, answer["error"]["code"]) == (409, "rollout_not_paused")
    status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/resume")
    assert (status, answer["state"]) == (200, "running")
    status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/abort")
    assert (status, answer["state"]) == (200, "aborted")
    for command in ("pause", "resume", "abort"):
        status, answer = await call(gateway, admin, "POST", f"{BASE}/{rid}/{command}")
        assert status == 409, command
    status, answer = await call(gateway, admin, "POST", f"{BASE}/{uuid.uuid4()}/pause")
    assert status == 404
    status, answer = await call(gateway, admin, "GET", f"{BASE}/not-a-uuid")
    assert status == 404
