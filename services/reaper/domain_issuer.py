"""The domain issuer: serves the stores' verified custom domains, each with a certificate
of its own (issue 16, the certificate half).

Runs inside the domain verifier's pass (`services.reaper.domains`), on the replica that
holds the domain lock, after the look-ups and the first round of events:

1. follows each `issuing` domain's Certificate (`cert_plan.certificate_outcome`):
   Ready -> `active` with its expiry; a failed issuance (challenge refused, CA rate
   limit) or one that ran past the timeout -> `failed`;
2. re-reads the Certificates of active domains close to renewal, so the expiry the
   alert watches follows cert-manager's renewals;
3. removes the objects of every domain that ended (failed, removed by its owner, by the
   verifier or with its store) and rewrites the namespace's allowed-domains ConfigMap
   (the verifier then sends a store whose primary domain it was back to its own host);
   points the Ingress of each served domain whose store was suspended (or resumed)
   since at the paused page (or back at the store), as the store's own Ingress is;
4. starts the queue, oldest verified first, as far as the CA limits allow
   (`cert_plan.admissions`): the ConfigMap listing the domain, its Certificate, then its
   Ingress, and the domain `issuing`. With no issuer configured the Ingress is applied
   without TLS and the domain is `active` at once.

The verifier publishes each new state's event afterwards. A Kubernetes error leaves the
domain as it was, for the next pass; a store whose namespace is not there yet keeps its
domains queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.reaper import metrics
from services.reaper.cert_plan import CertLimits, admissions, certificate_outcome
from services.reaper.cert_records import CertRecords, ServedDomain
from services.reaper.domain_certs import DomainKube
from services.reaper.domain_objects import WEB_SERVICE, allowed_domains, certificate, ingress
from shared.domains import DomainState
from shared.kube_errors import KubeError

log = structlog.get_logger(__name__)

RENEWAL_WINDOW = timedelta(days=35)
EXPIRY_WARNING = timedelta(days=14)
Step = Callable[["ServedDomain", datetime], Awaitable[None]]
SUSPENDED = "suspended"
_LIVE = ("ready", "suspended", "suspending", "resuming", "upgrading", "failed")


@dataclass(frozen=True)
class IssuerConfig:
    issuer: str  # empty: domains are served over plain HTTP, no certificate
    issuer_kind: str
    ingress_class: str
    limits: CertLimits
    paused_port: int = 8082  # where the paused page's Service answers
    per_pass: int = 200


class DomainIssuer:
    def __init__(
        self, records: CertRecords, kube: DomainKube, config: IssuerConfig, concurrency: int = 8
    ) -> None:
        self._records = records
        self._kube = kube
        self._config = config
        self._slots = asyncio.Semaphore(concurrency)

    async def pass_once(self, now: datetime) -> None:
        per_pass = self._config.per_pass
        await self._each(self._follow, await self._records.issuing(per_pass), now)
        renewing = await self._records.renewing(now + RENEWAL_WINDOW, per_pass)
        await self._each(self._refresh, renewing, now)
        for domain in await self._records.ended(per_pass):
            await self._guarded(self._unserve, domain, now)
        await self._each(self._reroute, await self._records.rerouting(per_pass), now)
        issuing, started, queued = await self._records.counts(now)
        room = admissions(self._config.limits, issuing, started)
        await self._each(self._start, await self._records.queue(min(room, per_pass)), now)
        metrics.DOMAIN_QUEUE.set(max(0, queued - room))
        metrics.DOMAIN_EXPIRING.set(await self._records.expiring(now + EXPIRY_WARNING))

    async def _each(self, step: Step, domains: list[ServedDomain], now: datetime) -> None:
        await asyncio.gather(*(self._guarded(step, d, now) for d in domains))

    async def _guarded(self, step: Step, domain: ServedDomain, now: datetime) -> None:
        async with self._slots:
            try:
                await step(domain, now)
            except KubeError as exc:
                metrics.DOMAIN_CERT_STEPS.labels("kube_error").inc()
                log.warning(
                    "domain step failed, next pass",
                    store_id=domain.store_id,
                    domain=domain.domain,
                    error=type(exc).__name__,
                )

    async def _follow(self, domain: ServedDomain, now: datetime) -> None:
        cert = await self._kube.certificate(domain.namespace, domain.id)
        outcome = certificate_outcome(cert, domain.issuing_at or now, now, self._config.limits)
        if outcome.state == DomainState.ISSUING:
            return
        moved = await self._records.finish(
            domain.id, DomainState.ISSUING, outcome.state, outcome.reason, outcome.not_after, now
        )
        if moved:
            metrics.DOMAIN_CERT_STEPS.labels(outcome.reason or outcome.state).inc()
            log.info(
                "domain moved",
                store_id=domain.store_id,
                domain=domain.domain,
                state=outcome.state,
                reason=outcome.reason,
                message=outcome.message[:300],
            )

    async def _refresh(self, domain: ServedDomain, now: datetime) -> None:
        cert = await self._kube.certificate(domain.namespace, domain.id)
        outcome = certificate_outcome(cert, now, now, self._config.limits)
        if outcome.state == DomainState.ACTIVE:
            await self._records.finish(
                domain.id, DomainState.ACTIVE, DomainState.ACTIVE, None, outcome.not_after, now
            )

    async def _unserve(self, domain: ServedDomain, now: datetime) -> None:
        if domain.store_status not in ("deleting", "deleted"):
            await self._kube.remove(domain.namespace, domain.id)
            await self._records.unserved(domain.id)
            await self._write_allowed(domain)
        else:  # the namespace goes with everything in it
            await self._records.unserved(domain.id)
        metrics.DOMAIN_CERT_STEPS.labels("unserved").inc()

    async def _start(self, domain: ServedDomain, now: datetime) -> None:
        if domain.store_status not in _LIVE or domain.engine not in WEB_SERVICE:
            return  # not provisioned yet (or going): it waits in the queue
        config = self._config
        await self._records.mark_served(domain.id)
        await self._write_allowed(domain)
        if config.issuer:
            cert = certificate(
                domain.namespace, domain.store_id, domain.id, domain.domain,
                config.issuer, config.issuer_kind,
            )  # fmt: skip
            await self._kube.apply_listed(cert)
        paused = domain.store_status == SUSPENDED
        await self._kube.apply_listed(self._route(domain, paused))
        await self._records.set_paused(domain.id, paused)
        state = DomainState.ISSUING if config.issuer else DomainState.ACTIVE
        if await self._records.start(domain.id, state, now):
            metrics.DOMAIN_CERT_STEPS.labels(f"started_{state.value}").inc()

    async def _reroute(self, domain: ServedDomain, now: datetime) -> None:
        """The store was suspended or resumed since: its domain follows its own Ingress."""
        paused = domain.store_status == SUSPENDED
        await self._kube.apply(self._route(domain, paused))
        await self._records.set_paused(domain.id, paused)
        metrics.DOMAIN_CERT_STEPS.labels("paused" if paused else "unpaused").inc()

    def _route(self, domain: ServedDomain, paused: bool) -> dict[str, Any]:
        config = self._config
        route = ingress(
            domain.namespace, domain.store_id, domain.id, domain.domain, domain.engine,
            config.ingress_class, config.paused_port if paused else None,
        )  # fmt: skip
        if not config.issuer:
            route["spec"].pop("tls")
        return route

    async def _write_allowed(self, domain: ServedDomain) -> None:
        allowed = await self._records.allowed(domain.store_id)
        await self._kube.apply(allowed_domains(domain.namespace, domain.store_id, allowed))
