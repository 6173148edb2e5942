"""The domain verifier's decisions, as pure functions: what one look-up of a domain's
challenge record does to it. A resolver error never moves a domain, whatever its state;
a pending domain's checks back off; a verified domain is looked at again after the
re-check period, and unlinked only when DNS answers that the record is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.reaper.domain_plan import DomainPolicy, DomainRow, TxtAnswer, decide, expired

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = DomainPolicy()


def row(state: str = "pending_dns", checks: int = 0, age: timedelta = timedelta(0)) -> DomainRow:
    return DomainRow("d1", "s1", "shop.example.org", "token-1", state, checks, NOW - age)


@pytest.mark.parametrize("state", ["pending_dns", "verified"])
def test_a_resolver_error_never_moves_a_domain(state: str) -> None:
    decision = decide(row(state), TxtAnswer("error"), NOW, POLICY)

    assert (decision.state, decision.reason, decision.outcome) == (state, None, "resolver_error")
    assert decision.next_check_at > NOW


def test_a_pending_domain_is_verified_only_by_its_own_token() -> None:
    found = TxtAnswer("found", frozenset({"other", "token-1"}))
    wrong = TxtAnswer("found", frozenset({"token-2"}))

    assert decide(row(), found, NOW, POLICY).state == "verified"
    assert decide(row(), wrong, NOW, POLICY).outcome == "wrong_token"
    assert decide(row(), TxtAnswer("missing"), NOW, POLICY).state == "pending_dns"


def test_a_pending_domains_checks_back_off_up_to_an_hour() -> None:
    delays = [
        (decide(row(checks=n), TxtAnswer("missing"), NOW, POLICY).next_check_at - NOW)
        for n in (0, 3, 30)
    ]

    assert delays[0] < delays[1] < delays[2] <= timedelta(hours=1)


def test_a_verified_domain_is_rechecked_daily_and_unlinked_only_when_its_record_is_gone() -> None:
    kept = decide(row("verified"), TxtAnswer("found", frozenset({"token-1"})), NOW, POLICY)
    gone = decide(row("verified"), TxtAnswer("missing"), NOW, POLICY)

    assert (kept.state, kept.next_check_at) == ("verified", NOW + timedelta(hours=24))
    assert (gone.state, gone.reason) == ("removed", "dns_missing")


def test_only_a_pending_domain_past_its_window_expires() -> None:
    assert not expired(row(age=timedelta(hours=71)), NOW, POLICY)
    assert expired(row(age=timedelta(hours=72)), NOW, POLICY)
    assert not expired(row("verified", age=timedelta(days=30)), NOW, POLICY)
