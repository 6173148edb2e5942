"""The auditor's Prometheus metrics, served on `/metrics` by `shared.health`.

Set by the consumer loop (`services.auditor.consumer`) after each committed batch:
events stored (a counter, and a gauge of the rate over the last seconds), batch sizes,
commit times, and how far the auditor is behind the stream, in messages and seconds.
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import Counter, Gauge, Histogram

EVENTS_STORED = Counter("storefleet_auditor_events_stored_total", "Events appended to store_events")
EVENTS_DUPLICATE = Counter(
    "storefleet_auditor_events_duplicate_total",
    "Deliveries of events store_events already held (redeliveries, re-publishes)",
)
EVENTS_REJECTED = Counter(
    "storefleet_auditor_events_rejected_total",
    "Messages that are not storable events, terminated",
    ["reason"],
)
UNPROJECTED = Counter(
    "storefleet_auditor_unprojected_stores_total",
    "Batches in which a store's events could not give it a stores row "
    "(reason: no_requested_event, slug_taken)",
    ["reason"],
)
STORE_RATE = Gauge(
    "storefleet_auditor_events_stored_per_second", "Events stored per second, recent window"
)
BATCH_SIZE = Histogram(
    "storefleet_auditor_batch_size",
    "Messages per committed batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
BATCH_SECONDS = Histogram(
    "storefleet_auditor_batch_seconds",
    "Time to store one batch (one transaction)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG_MESSAGES = Gauge(
    "storefleet_auditor_lag_messages", "Messages in the stream not yet delivered to the auditor"
)
LAG_SECONDS = Gauge(
    "storefleet_auditor_lag_seconds",
    "Age of the oldest message of the last batch when it was committed (0 when idle)",
)
STORE_ERRORS = Counter(
    "storefleet_auditor_store_errors_total", "Failed attempts to store a batch", ["kind"]
)


class RateMeter:
    """Events per second over a sliding window, for the STORE_RATE gauge."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self.started = time.monotonic()
        self._marks: deque[tuple[float, int]] = deque()

    def add(self, count: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._marks.append((now, count))
        while self._marks and self._marks[0][0] < now - self.window:
            self._marks.popleft()
        span = min(self.window, max(now - self.started, 1.0))
        return sum(c for _, c in self._marks) / span
