"""The single sign-on rules that need no provider: where a sign-in may land, who is an
admin, and what a new user is called when the provider's claims are hostile."""

from __future__ import annotations

import pytest

from services.gateway.oidc import USERNAME_MAX, is_admin, safe_next, username_from


@pytest.mark.parametrize(
    "asked",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/stores",
        "/\\evil.example",
        "/stores\r\nSet-Cookie: x=1",
        "/stores\x00",
        "javascript:alert(1)",
        "stores",
        "/" + "a" * 3000,
    ],
)
def test_next_falls_back_to_the_dashboard_for_anything_but_a_local_path(asked: str | None) -> None:
    assert safe_next(asked) == "/"


def test_next_keeps_a_local_path_with_its_query() -> None:
    assert safe_next("/stores/abc?tab=backups") == "/stores/abc?tab=backups"


def test_admin_comes_from_a_string_claim_or_a_list_of_groups() -> None:
    assert is_admin({"email": "ops@example.test"}, "email", ["ops@example.test"])
    assert is_admin({"groups": ["staff", "platform-admins"]}, "groups", ["platform-admins"])
    assert not is_admin({"groups": ["staff"]}, "groups", ["platform-admins"])
    assert not is_admin({"groups": "platform-admins-not"}, "groups", ["platform-admins"])
    assert not is_admin({"groups": [["platform-admins"]]}, "groups", ["platform-admins"])
    assert not is_admin({"email": "ops@example.test"}, "", ["ops@example.test"])


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"preferred_username": "--help"}, "help"),
        ({"preferred_username": "$(reboot)"}, "reboot"),
        ({"preferred_username": "a'b\"c\nd"}, "a-b-c-d"),
        ({"preferred_username": "{{ .Values.x }}"}, ".Values.x"),
        ({"preferred_username": "----", "email": "ann@example.test"}, "ann@example.test"),
        ({"preferred_username": 7, "sub": "Ci0xMjM"}, "Ci0xMjM"),
        ({}, "sso-user"),
    ],
)
def test_a_new_user_s_name_holds_only_username_characters(
    claims: dict[str, object], expected: str
) -> None:
    assert username_from(claims, "preferred_username") == expected


def test_a_new_user_s_name_leaves_room_for_a_suffix() -> None:
    name = username_from({"preferred_username": "x" * 500}, "preferred_username")
    assert len(name) == USERNAME_MAX - 8
