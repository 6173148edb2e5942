"""What a store owner reads about a failure or a deletion: a stable code and the
platform's own short words, never the API server's or helm's text (kept in the
operator's log) and never an administrator's username."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from structlog.testing import capture_logs

from services.gateway.views import API
from services.provisioner.failures import owner_reason
from shared.events import Envelope, parse_event
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import ENGINE_CHARTS
from tests.gateway.conftest import Harness as Gateway
from tests.gateway.conftest import stream_messages
from tests.provisioner.harness import Harness, failure_detail

INTERNALS = "internal-host.cluster.local:6443 token=abc"


async def test_the_api_servers_refusal_reaches_the_owner_as_a_code_and_short_reason(
    harness: Harness,
) -> None:
    odd = DEFAULT_PLANS["small"].model_copy(update={"limits_memory": "-8Gi"})
    plans = {**DEFAULT_PLANS, "odd": odd}
    with capture_logs() as logs:
        async with harness.running(workers=2, plans={k: p.model_dump() for k, p in plans.items()}):
            store = await harness.request(plan="odd")
            outcome = await harness.events.outcome(store.id)

    assert (outcome.data.code, outcome.data.reason) == (  # type: ignore[attr-defined]
        "apply_refused",
        owner_reason("apply_refused"),
    )
    assert "limits.memory" not in outcome.to_bytes().decode()
    assert "must be greater than or equal to 0" in failure_detail(logs)
    await harness.consumer_settled()


async def test_helms_error_text_stays_with_the_operator(harness: Harness, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    shutil.copytree(ENGINE_CHARTS, charts)
    broken = f'{{{{ fail "{INTERNALS}" }}}}\n'
    (charts / "woocommerce" / "templates" / "extra.yaml").write_text(broken)
    with capture_logs() as logs:
        async with harness.running(workers=2, charts_dir=str(charts)):
            store = await harness.request()
            outcome = await harness.events.outcome(store.id)

    assert outcome.data.code == "render_failed"  # type: ignore[attr-defined]
    assert INTERNALS not in outcome.to_bytes().decode()
    assert INTERNALS in failure_detail(logs)


async def _delete_event(gateway: Gateway, store_id: str) -> Envelope:
    subject = f"store.delete.{store_id}"
    for _ in range(50):
        found = await stream_messages(gateway.js, gateway.settings.stream_name, subject)
        if found:
            return parse_event(found[0].data)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {subject} was published")


async def test_an_administrators_delete_does_not_show_the_owner_their_username(
    gateway: Gateway,
) -> None:
    owner = await gateway.add_user()
    admin = await gateway.add_user("root-operator-jane", admin=True)
    store = await gateway.create_store(owner, "Corner Shop")
    async with gateway.client(admin).delete(f"{API}/stores/{store['id']}") as resp:
        assert resp.status == 202
    delete = await _delete_event(gateway, store["id"])
    async with gateway.client(owner).get(f"{API}/stores/{store['id']}") as resp:
        seen = await resp.text()

    assert admin.username not in delete.to_bytes().decode()
    assert delete.data.reason  # type: ignore[attr-defined]
    assert delete.data.requested_by == admin.id  # type: ignore[attr-defined]
    assert admin.username not in seen
