"""The relay's pure decisions: whose senders a store may use, which addresses a message
names as its sender, and the trace header; and the derived store passwords."""

from __future__ import annotations

import pytest

from services.mailrelay.policy import Senders, header_senders, may_send, with_trace
from shared.mailauth import is_store_mail_password, store_mail_password

SENDERS = Senders("shops.example.com", "noreply@example.com")
KEY = b"k" * 32


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("wordpress@corner.shops.example.com", True),
        ("Orders@Corner.Shops.Example.com", True),
        ("noreply@example.com", True),
        ("someone@other.shops.example.com", False),
        ("x@sub.corner.shops.example.com", False),
        ("@corner.shops.example.com", False),
        ("corner.shops.example.com", False),
        ("x@corner.shops.example.com.evil.net", False),
        ("", False),
    ],
)
def test_a_store_may_send_only_as_its_own_host_or_the_platform_from(
    address: str, allowed: bool
) -> None:
    assert SENDERS.allowed(address, "corner") is allowed


def test_only_a_deleting_deleted_or_unknown_store_is_refused() -> None:
    assert [s for s in ("requested", "provisioning", "ready", "failed") if not may_send(s)] == []
    assert not any(may_send(s) for s in ("deleting", "deleted", None, "bogus"))


def test_every_sender_header_is_found_display_names_and_all() -> None:
    content = (
        b'From: "shop@corner.shops.example.com" <ceo@bank.example>\r\n'
        b"Sender: a@corner.shops.example.com\r\nResent-From: r@x.example\r\n"
        b"Subject: From: hidden@x.example\r\n\r\nFrom: body@x.example\r\n"
    )

    assert header_senders(content) == [
        "ceo@bank.example", "a@corner.shops.example.com", "r@x.example",
    ]  # fmt: skip
    assert header_senders(b"Subject: none\r\n\r\nbody") == []


def test_the_trace_header_comes_first_and_a_forged_one_is_dropped() -> None:
    content = (
        b"X-Storefleet-Store: someone-else\r\n  continued\r\nSubject: hi\r\n"
        b"x-storefleet-store: again\r\n\r\nX-Storefleet-Store: body text stays\r\n"
    )

    assert with_trace(content, "store-1") == (
        b"X-Storefleet-Store: store-1\r\nSubject: hi\r\n\r\nX-Storefleet-Store: body text stays\r\n"
    )


def test_a_store_password_is_its_own_and_needs_a_long_key() -> None:
    mine = store_mail_password(KEY, "store-a")

    assert is_store_mail_password(KEY, "store-a", mine)
    assert not is_store_mail_password(KEY, "store-b", mine)
    assert not is_store_mail_password(b"j" * 32, "store-a", mine)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        store_mail_password(b"short", "store-a")
