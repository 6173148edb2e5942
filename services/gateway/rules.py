"""The gateway's decisions about stores, as pure functions: how a name becomes a slug
(its namespace is `shared.namespaces.namespace_for`), which names and slugs are refused,
whether a user may create one more store, and what a delete does in each status (a
retry: `shared.lifecycle.can_retry`); and of backups: which of a store's backups are
under way, which may be restored, what engine a clone gets, and whether a store's backups
are stale (as the stale-backup alert decides it).

Pure: no I/O imports. Called by `validation` (names, slugs, a clone's engine),
`store_db` (quota and the delete decision inside the create and delete transactions)
`backup_db` (inside the backup and restore transactions) and `routes_backups` (staleness).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from shared import backup_policy
from shared.lifecycle import DELETION, SUSPENSION, Status
from shared.plans import BackupPolicy

SLUG_MAX = 30
NAME_MIN = 3
NAME_MAX = 40

# Names that would read as the platform's own hosts or pages if a store took them.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "default",
        "dev",
        "docs",
        "ftp",
        "gateway",
        "grafana",
        "help",
        "kube-system",
        "login",
        "mail",
        "metrics",
        "ns",
        "platform",
        "prometheus",
        "root",
        "shop",
        "smtp",
        "staging",
        "static",
        "status",
        "storefleet",
        "support",
        "system",
        "test",
        "www",
    }
)

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class SlugError(ValueError):
    """The name cannot give a usable slug; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def reads_as_option(name: str) -> bool:
    """True for a name starting with `-`: a command-line tool handed it as an argument
    would read it as an option (wp-cli's `--exec=<php>` runs code), so it is refused."""
    return name.startswith("-")


def slugify(name: str) -> str:
    """A DNS label of at most 30 characters from a display name, or `SlugError`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:SLUG_MAX].strip("-")
    if not slug:
        raise SlugError("invalid_name", "the name needs at least one letter or digit")
    if slug in RESERVED_SLUGS:
        raise SlugError("reserved_slug", f"the name {slug!r} is reserved; choose another")
    return slug


def quota_allows(stores_in_use: int, max_stores: int) -> bool:
    return stores_in_use < max_stores


class DeleteDecision(Enum):
    PUBLISH = "publish"  # set `deleting` and publish `store.delete`
    ALREADY = "already"  # deleting or deleted: answer with the store, publish nothing


def decide_delete(status: str) -> DeleteDecision:
    if status in DELETION:
        return DeleteDecision.ALREADY
    return DeleteDecision.PUBLISH


@dataclass(frozen=True)
class StoreRequest:
    """A validated request for a new store, before it has an id."""

    name: str
    slug: str
    engine: str
    plan: str
    from_backup: BackupSource | None = None
    engine_version: str | None = None  # the engine's default, set by the create route


@dataclass(frozen=True)
class BackupSource:
    """A verified backup a new store starts from (a clone), as its caller may see it."""

    store_id: str
    backup_id: str
    engine: str


# A backup in one of these is under way: another is refused until it ends.
BACKUP_UNDER_WAY = ("requested", "running")
# Only a backup whose throwaway restore passed its check may be restored or cloned.
RESTORABLE_BACKUP = "verified"
# A request the auditor has not folded after this long no longer blocks another: the
# stream or the auditor is down, and a second backup (or restore) is harmless where a
# store that can never be backed up again is not.
UNFOLDED_WINDOW = timedelta(minutes=15)


def backup_restorable(status: str) -> bool:
    return status == RESTORABLE_BACKUP


def clone_engine(backup_engine: str, chosen: str | None) -> str | None:
    """The engine of a store cloned from a backup of `backup_engine`, or None when the
    caller chose another: a backup restores only into the engine that wrote it."""
    if chosen is not None and chosen != backup_engine:
        return None
    return backup_engine


def backups_stale(
    status: str,
    ready_at: datetime | None,
    last_verified_at: datetime | None,
    policy: BackupPolicy,
    now: datetime,
) -> bool:
    """Whether the store's newest verified backup is older than its plan allows, counted
    from when it became ready if that is later (a new store, or one resumed after a
    suspension, gets one interval of grace).
    A deleted store, a suspended one (or one suspending or resuming), or one never ready,
    has nothing to back up: never stale. The reaper's freshness metric, which the
    StorefleetBackupStale alert reads, counts the same way."""
    since = max((t for t in (last_verified_at, ready_at) if t is not None), default=None)
    if status == Status.DELETED or status in SUSPENSION or since is None:
        return False
    return backup_policy.stale(since, policy, now)
