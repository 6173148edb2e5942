"""What the domain issuer decides about certificates, as pure functions: how many verified
domains may start issuing now without passing the certificate authority's limits
(`admissions`), and what a domain's cert-manager Certificate says of it
(`certificate_outcome`).

The limits are the CA's, per ACME account (Let's Encrypt: 300 pending authorisations,
300 new orders per 3 hours): `max_pending` domains issuing at once, `orders_per_hour`
certificates asked for in any hour. A domain past them waits, verified, in the queue
(oldest verified first) and starts on a later pass. Renewals cert-manager makes on its
own are not counted: they are spread over the certificates' lifetimes.

Called by `services.reaper.domain_issuer`. Pure: no I/O imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domains import DomainState, FailReason


@dataclass(frozen=True)
class CertLimits:
    max_pending: int = 50
    orders_per_hour: int = 100
    issue_timeout: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class CertOutcome:
    state: str  # issuing, active or failed
    reason: str | None = None
    not_after: datetime | None = None
    message: str = ""  # cert-manager's words on a failure, for the log


def admissions(limits: CertLimits, issuing: int, started_last_hour: int) -> int:
    """How many queued domains may start issuing now."""
    return max(0, min(limits.max_pending - issuing, limits.orders_per_hour - started_last_hour))


def certificate_outcome(
    certificate: dict[str, Any] | None, issuing_at: datetime, now: datetime, limits: CertLimits
) -> CertOutcome:
    """A domain's state from its Certificate: `active` once Ready, `failed` at the first
    failed issuance (its challenge refused, or the CA's rate limit) or when issuing has
    taken longer than `limits.issue_timeout`, else still `issuing`."""
    status = (certificate or {}).get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready", {})
    if ready.get("status") == "True" and status.get("notAfter"):
        return CertOutcome(DomainState.ACTIVE, not_after=_timestamp(status["notAfter"]))
    issuing = conditions.get("Issuing", {})
    if status.get("failedIssuanceAttempts") or status.get("lastFailureTime"):
        message = str(issuing.get("message") or ready.get("message") or "")
        return CertOutcome(DomainState.FAILED, _failure(message), message=message)
    if now - issuing_at > limits.issue_timeout:
        return CertOutcome(DomainState.FAILED, FailReason.CHALLENGE_FAILED, message="timed out")
    return CertOutcome(DomainState.ISSUING)


def _failure(message: str) -> str:
    """rate_limited when the CA refused the order for its limits, else challenge_failed."""
    lowered = message.lower()
    if "ratelimited" in lowered or "rate limit" in lowered or "too many" in lowered:
        return FailReason.RATE_LIMITED
    return FailReason.CHALLENGE_FAILED


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
