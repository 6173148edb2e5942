"""How many recipients one store may send to per window (default 200 an hour), with the
`limits` package: a moving window per store, in memory (each replica counts alone) or
shared through Redis (`STOREFLEET_RATE_LIMIT_STORAGE=redis://...`). When the storage
cannot be reached, mail is let through and a warning logged, as the gateway does: a
Redis outage must not stop every store's mail.
"""

from __future__ import annotations

import structlog
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

log = structlog.get_logger(__name__)


class MailQuota:
    def __init__(self, storage_uri: str, limit: str) -> None:
        scheme = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self.limiter = MovingWindowRateLimiter(storage_from_string(scheme, wrap_exceptions=True))
        self.item = parse(limit)

    async def take(self, store_id: str, recipients: int) -> bool:
        """Count `recipients` against the store; False when that would go over its limit."""
        try:
            return bool(await self.limiter.hit(self.item, "mail", store_id, cost=recipients))
        except StorageError as exc:
            log.warning("mail quota storage unavailable; letting mail through", error=str(exc))
            return True
