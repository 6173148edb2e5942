"""The webhooks service's Prometheus metrics, served on `/metrics` by `shared.health`.

- `storefleet_webhooks_events_total`: store events taken from the stream;
- `storefleet_webhooks_queued_total`: deliveries queued (one per matching endpoint);
- `storefleet_webhooks_attempts_total{result}`: attempts by what became of the delivery
  (`delivered`, `retry`, `given_up`);
- `storefleet_webhooks_failures_total`: deliveries given up (their endpoint marked failing);
- `storefleet_webhooks_attempt_seconds`: one attempt, connect to answer;
- `storefleet_webhooks_lag_seconds{endpoint}`: age of each endpoint's oldest pending
  delivery (absent once it has none).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("storefleet_webhooks_events_total", "Store events taken from the stream")
QUEUED = Counter("storefleet_webhooks_queued_total", "Deliveries queued, one per endpoint")
ATTEMPTS = Counter(
    "storefleet_webhooks_attempts_total", "Delivery attempts by what became of them", ["result"]
)
FAILURES = Counter(
    "storefleet_webhooks_failures_total", "Deliveries given up after their last attempt"
)
ATTEMPT_SECONDS = Histogram(
    "storefleet_webhooks_attempt_seconds",
    "One delivery attempt",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge(
    "storefleet_webhooks_lag_seconds",
    "Age of an endpoint's oldest pending delivery",
    ["endpoint"],
)
