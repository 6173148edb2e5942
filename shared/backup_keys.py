"""Where backups live in the bucket, and the checks that keep a crafted id inside its
store's prefix.

Layout, under the operator's prefix (`STOREFLEET_BACKUP_S3_PREFIX`):

    <prefix>/stores/<store_id>/backups/<backup_id>/<name>

Store and backup ids must be UUIDs in canonical form, and a name one plain path segment,
so no id or name can climb out of (`..`), reach across (`/`) or widen (a shorter id
that is the start of another) its prefix. Every prefix these functions return ends in
`/`, so listing or deleting one never matches a neighbour. `shared.objectstore` refuses
keys outside the configured prefix; the backup worker builds every key here.

Pure: no I/O.
"""

from __future__ import annotations

import re
import uuid

# One path segment: no "/" and no leading dot, so never "." or "..".
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
MAX_KEY_BYTES = 1024  # S3's limit on a key


class ObjectKeyError(ValueError):
    """An id, name, prefix or key that would not stay where it belongs."""


def canonical_id(value: str, what: str) -> str:
    """`value` if it is a UUID written as `str(uuid.UUID(...))` writes it, else raise."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ObjectKeyError(f"{what} must be a UUID, got {value!r:.60}") from None
    if str(parsed) != value:
        raise ObjectKeyError(f"{what} must be a lowercase hyphenated UUID, got {value!r:.60}")
    return value


def check_prefix(prefix: str) -> str:
    """The operator's prefix: empty, or segments of letters, digits, `.`, `_` and `-`
    joined by `/`, with no leading or trailing `/`."""
    if prefix and not all(_PREFIX_SEGMENT.match(part) for part in prefix.split("/")):
        raise ObjectKeyError(
            "the prefix must be path segments of letters, digits, '.', '_' and '-' "
            "separated by '/', without a leading or trailing '/'"
        )
    return prefix


def root(prefix: str) -> str:
    """Everything storefleet writes starts with this (empty for an empty prefix)."""
    return f"{check_prefix(prefix)}/" if prefix else ""


def store_prefix(prefix: str, store_id: str) -> str:
    """All of one store's objects: `<prefix>/stores/<store_id>/`."""
    return f"{root(prefix)}stores/{canonical_id(store_id, 'store id')}/"


def backup_prefix(prefix: str, store_id: str, backup_id: str) -> str:
    """One backup's objects: `<prefix>/stores/<store_id>/backups/<backup_id>/`."""
    return f"{store_prefix(prefix, store_id)}backups/{canonical_id(backup_id, 'backup id')}/"


def backup_key(prefix: str, store_id: str, backup_id: str, name: str) -> str:
    """The key of object `name` (say `database.dump`, `manifest.json`) in one backup."""
    if not _NAME.match(name):
        raise ObjectKeyError(
            f"an object name is one segment of letters, digits, '.', '_' and '-', "
            f"starting with a letter or digit, got {name!r:.60}"
        )
    return backup_prefix(prefix, store_id, backup_id) + name


def check_key(key: str, prefix: str, *, is_prefix: bool = False) -> str:
    """`key` if it lies under the operator's prefix and has no empty, `.` or `..`
    segment; with `is_prefix`, it must also end in `/` (a listing or deletion by a bare
    `stores/ab` would match `stores/abc...`)."""
    segments = key.split("/")
    if is_prefix:
        if not key.endswith("/"):
            raise ObjectKeyError(f"a prefix must end in '/', got {key!r:.80}")
        segments = segments[:-1]
    bad = any(part in {"", ".", ".."} for part in segments) if key else False
    if bad or not key.startswith(root(prefix)) or len(key.encode()) > MAX_KEY_BYTES:
        raise ObjectKeyError(f"{key!r:.80} is not a key under the prefix {prefix!r}")
    if any(ord(char) < 0x20 or char in "\\\x7f" for char in key):
        raise ObjectKeyError(f"{key!r:.80} holds a control character or a backslash")
    return key
