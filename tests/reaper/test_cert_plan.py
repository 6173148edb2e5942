"""What the domain issuer makes of the CA's limits and of a Certificate's status
(`services.reaper.cert_plan`), with the statuses cert-manager v1.21 writes (as seen in
tests/certificates/ and docs/operations.md §5.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reaper.cert_plan import CertLimits, admissions, certificate_outcome

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LIMITS = CertLimits(max_pending=20, orders_per_hour=100, issue_timeout=timedelta(hours=1))
FAILED_ORDER = (
    "The certificate request has failed to complete and will be retried: Failed to wait for"
    ' order resource "domain-1-1-305" to become ready: order is in "invalid" state: '
)
RATE_LIMITED = (
    "The certificate request has failed to complete and will be retried: Failed to wait for"
    ' order resource "domain-1-1-305" to become ready: order is in "errored" state: Failed'
    " to create Order: 429 urn:ietf:params:acme:error:rateLimited: too many new orders"
)


def status(*conditions: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {"status": {"conditions": list(conditions), **fields}}


def cond(kind: str, state: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": state, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("issuing", "started", "room"),
    [(0, 0, 20), (15, 0, 5), (20, 0, 0), (25, 0, 0), (0, 95, 5), (0, 100, 0), (10, 95, 5)],
)
def test_admissions_keep_within_both_limits(issuing: int, started: int, room: int) -> None:
    assert admissions(LIMITS, issuing, started) == room


def test_a_ready_certificate_is_active_with_its_expiry() -> None:
    cert = status(cond("Ready", "True", "Ready"), notAfter="2027-03-07T11:00:00Z")
    outcome = certificate_outcome(cert, NOW, NOW, LIMITS)
    assert (outcome.state, outcome.reason) == ("active", None)
    assert outcome.not_after == datetime(2027, 3, 7, 11, 0, tzinfo=UTC)


def test_a_refused_challenge_fails_the_domain_at_the_first_failed_issuance() -> None:
    cert = status(
        cond("Ready", "False", "DoesNotExist"),
        cond("Issuing", "False", "Failed", FAILED_ORDER),
        failedIssuanceAttempts=1,
        lastFailureTime="2026-12-07T11:59:00Z",
    )
    outcome = certificate_outcome(cert, NOW, NOW, LIMITS)
    assert (outcome.state, outcome.reason) == ("failed", "challenge_failed")
    assert "invalid" in outcome.message


def test_the_cas_rate_limit_is_told_apart() -> None:
    cert = status(cond("Issuing", "False", "Failed", RATE_LIMITED), failedIssuanceAttempts=1)
    assert certificate_outcome(cert, NOW, NOW, LIMITS).reason == "rate_limited"


@pytest.mark.parametrize(
    "cert",
    [
        None,  # not made yet
        {},
        status(),
        status(cond("Ready", "False", "DoesNotExist"), cond("Issuing", "True", "DoesNotExist")),
        status(cond("Ready", "True", "Ready")),  # Ready without an expiry: not trusted yet
        {"status": {"conditions": ["not a dict", 3]}},
    ],
)
def test_anything_else_is_still_issuing_within_the_timeout(cert: dict[str, Any] | None) -> None:
    assert certificate_outcome(cert, NOW - timedelta(minutes=59), NOW, LIMITS).state == "issuing"


def test_an_issuance_past_the_timeout_fails() -> None:
    cert = status(cond("Issuing", "True", "DoesNotExist"))
    outcome = certificate_outcome(cert, NOW - timedelta(minutes=61), NOW, LIMITS)
    assert (outcome.state, outcome.reason) == ("failed", "challenge_failed")
