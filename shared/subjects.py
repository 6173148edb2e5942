"""Subject names, the STORES stream and every durable consumer, in one place.

Pure: no I/O imports. The JetStream adapter (`shared.jetstream`) turns these frozen
descriptions into nats-py configs; services name consumers from here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from shared.lifecycle import EVENT_TYPES

STREAM = "STORES"
SUBJECT_ROOT = "store"
ALL_STORE_SUBJECTS = f"{SUBJECT_ROOT}.>"


# Request-reply subject for store credentials; deliberately outside `store.>` so the
# reply (which carries a password) is never persisted by the stream.
CREDENTIALS_SUBJECT = "storefleet.rpc.credentials"


def subject_for(event_type: str, store_id: str) -> str:
    """`store.<type>.<store_id>`, the subject an event of that type is published on."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return f"{SUBJECT_ROOT}.{event_type}.{store_id}"


def type_filter(event_type: str) -> str:
    """The wildcard subject matching every store's events of one type."""
    return f"{SUBJECT_ROOT}.{event_type}.*"


def store_filters(store_id: str) -> tuple[str, ...]:
    """The subjects of every event of one store: event types have one token (`ready`) or
    two (`backup.completed`), so one wildcard cannot match both."""
    return f"{SUBJECT_ROOT}.*.{store_id}", f"{SUBJECT_ROOT}.*.*.{store_id}"


def split_subject(subject: str) -> tuple[str, str] | None:
    """(event type, store id) of a store event's subject; None for any other subject."""
    root, _, rest = subject.partition(".")
    event_type, _, store_id = rest.rpartition(".")
    if root != SUBJECT_ROOT or event_type not in EVENT_TYPES or not store_id:
        return None
    return event_type, store_id


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age: timedelta
    duplicate_window: timedelta
    replicas: int


@dataclass(frozen=True)
class ConsumerSpec:
    durable: str
    filter_subject: str
    ack_wait: timedelta
    max_deliver: int
    max_ack_pending: int
    # JetStream's own redelivery schedule; replaces ack_wait when set (see above).
    backoff: tuple[timedelta, ...] = field(default=())


def stores_stream(
    max_age: timedelta = timedelta(days=30), replicas: int = 1, name: str = STREAM
) -> StreamSpec:
    return StreamSpec(
        name=name,
        subjects=(ALL_STORE_SUBJECTS,),
        max_age=max_age,
        duplicate_window=timedelta(minutes=5),
        replicas=replicas,
    )


# No JetStream `backoff` on our consumers: with one, the server replaces ack_wait by its
# first entry and stretches every delayed nak by the schedule (delay + backoff[n] -
# backoff[0]), which makes retry timing hard to reason about. Instead a dead worker's
# message comes back after ack_wait, and handlers choose retry delays themselves with
# a `shared.backoff.Backoff` (exponential in the delivery count).
PROVISIONER = ConsumerSpec(
    durable="provisioner",
    filter_subject=type_filter("requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=10,
    max_ack_pending=256,
)

REAPER = ConsumerSpec(
    durable="reaper",
    filter_subject=type_filter("delete"),
    ack_wait=timedelta(seconds=30),
    max_deliver=20,
    max_ack_pending=256,
)

AUDITOR = ConsumerSpec(
    durable="auditor",
    filter_subject=ALL_STORE_SUBJECTS,
    ack_wait=timedelta(seconds=30),
    max_deliver=50,
    max_ack_pending=20_000,
)

# Backups and restores run in the provisioner, each on its own consumer so a long restore
# never holds up a store being created. ack_wait is short: the worker keeps a message
# alive with in_progress() while its Job runs, and a dead worker's message comes back soon.
BACKUPS = ConsumerSpec(
    durable="backups",
    filter_subject=type_filter("backup.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

RESTORES = ConsumerSpec(
    durable="restores",
    filter_subject=type_filter("restore.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

# Suspending and resuming stores, in the provisioner too; the gateway never asks for a
# resume before the suspension has ended, so the two consumers never race on a store.
SUSPENDS = ConsumerSpec(
    durable="suspends",
    filter_subject=type_filter("suspend.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

RESUMES = ConsumerSpec(
    durable="resumes",
    filter_subject=type_filter("resume.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

PLANS = ConsumerSpec(
    durable="plans",
    filter_subject=type_filter("plan.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

# Engine upgrades (one store each, asked for by a rollout), in the provisioner.
UPGRADES = ConsumerSpec(
    durable="upgrades",
    filter_subject=type_filter("upgrade.requested"),
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=64,
)

# A store's engine moved to the address of its primary domain (or back to its platform
# host), in the provisioner: its workloads and setup run again with the new address.
PRIMARY_DOMAINS = ConsumerSpec(
    durable="primary_domains",
    filter_subject=type_filter("domain.primary"),
    ack_wait=timedelta(seconds=30),
    max_deliver=10,  # a store on its way somewhere is asked again a minute later
    max_ack_pending=64,
)

# The webhooks service turns each event into pending deliveries, one per endpoint that
# wants it, a batch of messages at a time (at most max_ack_pending, so two replicas can
# each hold one). Batches may be committed out of stream order (replicas, a crash's
# redelivery); the senders keep each store's order by claiming only up to the consumer's
# ack floor (migration 0017). Taking a batch is one insert, so ack_wait is short, kept
# alive meanwhile.
WEBHOOKS = ConsumerSpec(
    durable="webhooks",
    filter_subject=ALL_STORE_SUBJECTS,
    ack_wait=timedelta(seconds=5),
    max_deliver=-1,
    max_ack_pending=2000,
)

CONSUMERS = (
    PROVISIONER,
    REAPER,
    AUDITOR,
    BACKUPS,
    RESTORES,
    SUSPENDS,
    RESUMES,
    PLANS,
    UPGRADES,
    PRIMARY_DOMAINS,
)

# The auditor's replay (`python -m services.auditor rebuild`): a named consumer without
# acks, created for the replay only, so NATS permissions can name it.
REBUILD_CONSUMER = "auditor_rebuild"
