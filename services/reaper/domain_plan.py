"""What the domain verifier decides about one custom domain after one look at DNS, as a
pure function (`decide`) from the domain's row, the TXT answer and the time.

Called by `services.reaper.domains` on each pass for every domain due a check:

- `pending_dns`: the store's token among the TXT values of
  `_storefleet-challenge.<domain>` -> `verified`; otherwise checked again after a
  growing delay (`policy.pending_backoff`), until `policy.verify_ttl` after the request,
  then `failed` (`expired`; decided before any look-up, so a silent resolver cannot keep a
  domain pending for ever).
- `verified`, `issuing`, `active`: the token still there -> checked again after
  `policy.recheck`; the record gone (NXDOMAIN, no TXT, or no value holding the token)
  -> `removed` (`dns_missing`).
- A resolver that did not answer (timeout, SERVFAIL, refused) changes no state: the
  domain is looked at again after `policy.error_backoff`. It never unlinks a domain.

Pure: imports no I/O library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.backoff import Backoff
from shared.domains import CLAIMING, DomainState, FailReason, RemoveReason

Answer = Literal["found", "missing", "error"]


@dataclass(frozen=True)
class TxtAnswer:
    """What the resolvers said of one TXT name: its values, that it has none, or nothing."""

    answer: Answer
    values: frozenset[str] = field(default_factory=frozenset)


# A pending domain is looked at after 30 s, 1 min, 2 min... then hourly; after a
# resolver error, after 1 min, 2 min... then hourly.
PENDING_BACKOFF = Backoff(base=30.0, factor=2.0, cap=3600.0, jitter=0.1)
ERROR_BACKOFF = Backoff(base=60.0, factor=2.0, cap=3600.0, jitter=0.1)


@dataclass(frozen=True)
class DomainPolicy:
    verify_ttl: timedelta = timedelta(hours=72)
    recheck: timedelta = timedelta(hours=24)
    pending_backoff: Backoff = PENDING_BACKOFF
    error_backoff: Backoff = ERROR_BACKOFF


@dataclass(frozen=True)
class DomainRow:
    """A domain due a check, as `domain_states` and `domain_requests` have it."""

    id: str
    store_id: str
    domain: str
    token: str
    state: str
    checks: int
    requested_at: datetime


@dataclass(frozen=True)
class Decision:
    state: str
    reason: str | None
    next_check_at: datetime
    outcome: str  # the checks metric's label


def expired(row: DomainRow, now: datetime, policy: DomainPolicy) -> bool:
    """A pending domain whose verification window has closed."""
    return row.state == DomainState.PENDING_DNS and now >= row.requested_at + policy.verify_ttl


def expire(row: DomainRow, now: datetime) -> Decision:
    return Decision(DomainState.FAILED, FailReason.EXPIRED, now, "expired")


def decide(row: DomainRow, txt: TxtAnswer, now: datetime, policy: DomainPolicy) -> Decision:
    """The domain's state after one look-up of its challenge record."""
    if txt.answer == "error":
        delay = policy.error_backoff.delay(row.checks + 1)
        return Decision(row.state, None, now + timedelta(seconds=delay), "resolver_error")
    present = txt.answer == "found" and row.token in txt.values
    if row.state in CLAIMING:
        if present:
            return Decision(row.state, None, now + policy.recheck, "still_present")
        return Decision(DomainState.REMOVED, RemoveReason.DNS_MISSING, now, "unlinked")
    if present:
        return Decision(DomainState.VERIFIED, None, now + policy.recheck, "verified")
    delay = policy.pending_backoff.delay(row.checks + 1)
    outcome = "wrong_token" if txt.answer == "found" else "missing"
    return Decision(row.state, None, now + timedelta(seconds=delay), outcome)


def taken(row: DomainRow, now: datetime, policy: DomainPolicy) -> Decision:
    """A pending domain whose token is in DNS but which another store holds already: it
    stays pending (the other may let it go) until it expires."""
    delay = policy.pending_backoff.delay(row.checks + 1)
    return Decision(DomainState.PENDING_DNS, None, now + timedelta(seconds=delay), "taken")
