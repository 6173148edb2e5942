"""The domain verifier: the reaper's leader checks the stores' custom domains in DNS.

Called from `services.reaper.app`. Every `interval`, the replica holding the domain lock
(`DOMAIN_LOCK_KEY`, apart from the sweeps', backups' and rollouts') runs one pass:

- adopts the gateway's new requests as `pending_dns` (`domain_records`), marks those
  the owner removed `removed`, and unlinks the domains of deleted stores;
- looks up `_storefleet-challenge.<domain>` for each domain due a check, a few at once,
  and records what `domain_plan.decide` says: verified, still pending (checked again
  after a growing delay), failed (expired), or removed when a verified domain's record
  has gone. A resolver error changes nothing;
- publishes `domain.verified`, `domain.failed` and `domain.removed` for each state whose
  event is not out yet, then marks it announced;
- hands over to the issuer (`services.reaper.domain_issuer`), which serves the verified
  domains with their certificates (and stops serving those that ended), and publishes
  what it moved (`domain.issuing`, `domain.active`, `domain.failed`) the same way. The
  event id is `<store>:domain-<state>:<domain id>`, so a verifier killed between its
  commit and its publish publishes the same event on its next pass, which the stream's
  duplicate window (and the auditor's event-id key) keep once;
- sends each store whose chosen primary domain ended (failed, removed by its owner,
  unlinked) back to its platform host: `domain.primary` with no domain (`reason:
  domain_ended`, id `<store>:domain-primary-released:<domain id>`), then marks the domain
  `primary_released`; the provisioner moves the engine's address. A store being deleted
  needs none. The gateway's choice is read each pass, so a domain chosen just as it ended
  is caught on the next one.

Which store holds a domain is decided by `domain_states`' unique index: a domain two
stores prove at once is verified for the first to commit; the other stays pending.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import structlog

from services.reaper import metrics
from services.reaper.deletion import Publish
from services.reaper.dns_lookup import TxtLookup
from services.reaper.domain_issuer import DomainIssuer
from services.reaper.domain_plan import DomainPolicy, DomainRow, decide, expire, expired, taken
from services.reaper.domain_records import DomainRecords
from services.reaper.sweeper import SweeperLock, lead
from shared.domains import DOMAIN_STATES, DomainState, challenge_name
from shared.events import Envelope, new_event

log = structlog.get_logger(__name__)

DOMAIN_LOCK_KEY = 0x5EE9EA
ACTOR = "reaper"
CORRELATION = "reaper-domains"
PRIMARY_RELEASE = uuid.UUID("8f0b7c52-2d4e-4a31-9a3e-61c2f0d5b7a4")
EVENT_OF = {
    DomainState.VERIFIED: "domain.verified",
    DomainState.ISSUING: "domain.issuing",
    DomainState.ACTIVE: "domain.active",
    DomainState.FAILED: "domain.failed",
    DomainState.REMOVED: "domain.removed",
}


def back_to_host(record: asyncpg.Record) -> Envelope:
    """The request that sends a store whose primary domain ended back to its platform
    host; the same every time for that domain."""
    store_id, domain_id = record["store_id"], record["domain_id"]
    data = {
        "operation_id": str(uuid.uuid5(PRIMARY_RELEASE, domain_id)),
        "domain_id": None,
        "domain": None,
        "reason": "domain_ended",
        "ended_domain": record["domain"],
        "requested_by": ACTOR,
    }
    return new_event(
        "domain.primary",
        store_id,
        data,
        actor=ACTOR,
        correlation_id=CORRELATION,
        event_id=f"{store_id}:domain-primary-released:{domain_id}",
    )


def domain_event(record: asyncpg.Record) -> Envelope:
    """The event of a domain's state, with an id that is the same every time."""
    state = DomainState(record["state"])
    data: dict[str, str] = {"domain_id": record["id"], "domain": record["domain"]}
    if state in (DomainState.FAILED, DomainState.REMOVED):
        data["reason"] = record["reason"]
    if state == DomainState.ACTIVE and record["not_after"] is not None:
        data["not_after"] = record["not_after"].isoformat()
    if state == DomainState.REMOVED:
        data["requested_by"] = ACTOR
    return new_event(
        EVENT_OF[state],
        record["store_id"],
        data,
        actor=ACTOR,
        correlation_id=CORRELATION,
        event_id=f"{record['store_id']}:domain-{state.value}:{record['id']}",
    )


class DomainVerifier:
    def __init__(
        self,
        lock: SweeperLock,
        records: DomainRecords,
        lookup: TxtLookup,
        publish: Publish,
        policy: DomainPolicy,
        interval: float,
        per_pass: int = 200,
        concurrency: int = 8,
        issuer: DomainIssuer | None = None,
    ) -> None:
        self._lock = lock
        self._records = records
        self._lookup = lookup
        self._publish = publish
        self._policy = policy
        self._interval = interval
        self._per_pass = per_pass
        self._slots = asyncio.Semaphore(concurrency)
        self._issuer = issuer

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every `interval` while this replica holds the domain lock."""
        await lead(self._lock, self._interval, stopping, self._pass_logged, metrics.DOMAIN_LEADER)

    async def _pass_logged(self) -> None:
        try:
            await self.pass_once(datetime.now(UTC))
        except Exception:
            metrics.DOMAIN_PASSES.labels("failed").inc()
            log.exception("domain pass failed")
            return
        metrics.DOMAIN_PASSES.labels("ok").inc()

    async def pass_once(self, now: datetime) -> None:
        """One pass, lock or not (the caller decides)."""
        await self._records.adopt(now)
        await self._records.close_removed(now)
        await self._records.unlink_deleted_stores(now)
        due = await self._records.due(now, self._per_pass)
        await asyncio.gather(*(self.check(row, now) for row in due))
        await self.announce()
        if self._issuer is not None:
            await self._issuer.pass_once(now)
            await self.announce()
        await self.release_primaries()
        counts = await self._records.counts()
        for state in DOMAIN_STATES:
            metrics.DOMAINS.labels(state).set(counts.get(state, 0))

    async def check(self, row: DomainRow, now: datetime) -> None:
        """Look one domain up and record what it says."""
        if expired(row, now, self._policy):
            decision = expire(row, now)
        else:
            async with self._slots:
                answer = await self._lookup.txt(challenge_name(row.domain))
            decision = decide(row, answer, now, self._policy)
        saved = await self._records.save(row, decision, now)
        if saved == "taken":
            decision = taken(row, now, self._policy)
            saved = await self._records.save(row, decision, now)
        if saved == "stale":
            return  # another pass moved it meanwhile; its look-up counts
        metrics.DOMAIN_CHECKS.labels(decision.outcome).inc()
        if decision.state != row.state:
            log.info(
                "domain moved",
                store_id=row.store_id,
                domain=row.domain,
                state=decision.state,
                reason=decision.reason,
            )

    async def release_primaries(self) -> None:
        """Send the stores whose primary domain ended back to their platform host."""
        for record in await self._records.ended_primaries(self._per_pass):
            await self._publish(back_to_host(record))
            await self._records.primary_released(record["domain_id"])
            log.info("primary domain ended; store back to its host",
                     store_id=record["store_id"], domain=record["domain"])  # fmt: skip

    async def announce(self) -> None:
        """Publish the events of the states not announced yet."""
        for record in await self._records.unannounced():
            await self._publish(domain_event(record))
            await self._records.announced(record["id"], record["state"])
