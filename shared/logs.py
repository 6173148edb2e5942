"""structlog set-up for every service: JSON lines on stdout, with `store_id` and
`correlation_id` bound from context variables, and secret-looking keys masked before
anything is written. Services call `configure_logging` once in `__main__`; code binds
context with `bound(store_id=..., correlation_id=...)`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

# Libraries whose debug lines carry request headers and bodies (a signed Authorization
# header, a Secret's data): at most warnings from them, whatever the service's level.
QUIET_LIBRARIES = ("botocore", "aiobotocore", "urllib3", "kubernetes_asyncio", "aiohttp", "asyncio")
SECRET_MARKERS = ("password", "secret", "token", "authorization", "cookie", "api_key")
MASK = "**********"


def mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of any key that names a secret, so none reaches a log line."""
    for key in list(event):
        if any(marker in key.lower() for marker in SECRET_MARKERS):
            event[key] = MASK
    return event


def configure_logging(service: str, level: str = "info") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stdout, level=numeric, format="%(message)s")
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind values (store_id, correlation_id, ...) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
