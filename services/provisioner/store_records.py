"""A store as the provisioner's operations on it (backups, restores, suspends, plan
changes) need it: its spec, rebuilt from its last `store.requested.<id>` message in the
stream, which is the only record of a store the provisioner holds (it has no database),
on the plan of its last `store.plan.changed.<id>` and the engine version of its last
`store.upgrade.completed.<id>` when those came later, answering at the address its last
`store.domain.primary.<id>` names (`last_primary`; the handler reads it too, so a retry
keeps the store's primary domain).

Called by `services.provisioner.backups`, `.restores`, `.suspensions`, `.plan_changes`,
`.upgrades` and `.primary_domains`. Raises
`StoreGone` for a store with no request, one whose deletion is asked, or whose spec no
longer resolves (an engine or plan removed from the catalog); `TemporaryError` when NATS
does not answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from services.provisioner.engines import Engine
from services.provisioner.spec import Cluster, SpecError, StoreSpec, on_primary, store_spec
from shared.engine_versions import EngineVersions
from shared.events import DomainPrimary, Envelope, StoreRequested, parse_event
from shared.outcome import TemporaryError
from shared.plans import Plan
from shared.subjects import subject_for


@dataclass(frozen=True)
class Recorded:
    """An event as the stream holds it: its sequence number and the event."""

    seq: int
    event: Envelope


class StoreGone(Exception):
    """The store cannot be worked on: deleted, never requested, or no longer resolvable."""


@dataclass(frozen=True)
class StoreRecords:
    js: JetStreamContext
    stream: str
    cluster: Cluster
    plans: Mapping[str, Plan]
    engines: Mapping[str, Engine]
    versions: Mapping[str, EngineVersions] = field(default_factory=dict)

    async def spec(self, store_id: str) -> StoreSpec:
        if await self._last(subject_for("delete", store_id)) is not None:
            raise StoreGone("the store is being deleted")
        raw = await self._last(subject_for("requested", store_id))
        if raw is None:
            raise StoreGone("no such store")
        event = parse_event(raw.data or b"")
        if not isinstance(event, StoreRequested):
            raise StoreGone("no such store")
        later = {"plan.changed": "plan", "upgrade.completed": "engine_version"}
        for event_type, field_name in later.items():
            changed = await self._last(subject_for(event_type, store_id))
            if changed is not None and (changed.seq or 0) > (raw.seq or 0):
                payload = parse_event(changed.data or b"").data  # type: ignore[attr-defined]
                value = payload.plan if field_name == "plan" else payload.version
                data = event.data.model_copy(update={field_name: value})
                event = event.model_copy(update={"data": data})
        try:
            spec = store_spec(event, self.cluster, self.plans, self.engines, self.versions)
        except SpecError as exc:
            raise StoreGone(str(exc)) from exc
        primary = await last_primary(self.js, self.stream, store_id)
        return on_primary(spec, primary, self.cluster)

    async def last_seq(self, subject: str) -> int:
        """The stream sequence of the last message on `subject`; 0 when there is none."""
        msg = await self._last(subject)
        return int(msg.seq or 0) if msg is not None else 0

    async def latest(self, store_id: str, event_types: Iterable[str]) -> list[Recorded]:
        """The last event of each of `event_types` the store has, newest first."""
        found = []
        for event_type in event_types:
            msg = await self._last(subject_for(event_type, store_id))
            if msg is not None:
                found.append(Recorded(int(msg.seq or 0), parse_event(msg.data or b"")))
        return sorted(found, key=lambda r: r.seq, reverse=True)

    async def _last(self, subject: str) -> RawStreamMsg | None:
        return await last_message(self.js, self.stream, subject)


async def last_message(js: JetStreamContext, stream: str, subject: str) -> RawStreamMsg | None:
    """The stream's last message on `subject`, or None; `TemporaryError` when NATS does
    not answer."""
    try:
        msg: RawStreamMsg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    except (nats.errors.Error, TimeoutError) as exc:
        raise TemporaryError(f"could not read {subject}: {exc!r}") from exc
    return msg


async def last_primary(js: JetStreamContext, stream: str, store_id: str) -> DomainPrimary | None:
    """What the store's last `domain.primary` asked for; None when it never had one."""
    msg = await last_message(js, stream, subject_for("domain.primary", store_id))
    if msg is None:
        return None
    data = parse_event(msg.data or b"").data  # type: ignore[attr-defined]
    return data if isinstance(data, DomainPrimary) else None
