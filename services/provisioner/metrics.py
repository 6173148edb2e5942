"""The provisioner's Prometheus metrics, served on `/metrics` by `shared.health`.

- `storefleet_provisioner_duration_seconds{outcome}`: one delivery, from a worker taking
  it to its outcome (ready, failed, deleted, retry);
- `storefleet_provisioner_wave_seconds{wave}`: guardrails, workloads, setup, ingress;
- `storefleet_provisioner_in_flight`: stores being provisioned in this process;
- `storefleet_provisioner_retries_total{reason}` and `..._failures_total{reason}`;
- `storefleet_provisioner_consumer_pending{state}`: the durable consumer's messages not
  yet delivered (`pending`) and delivered but not acked (`ack_pending`);
- `storefleet_provisioner_credentials_total{result}`: credentials requests answered.

Module-level collectors are the prometheus_client idiom: one process, one registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200)

DURATION = Histogram(
    "storefleet_provisioner_duration_seconds",
    "Time from a worker taking a store request to its outcome",
    ["outcome"],
    buckets=BUCKETS,
)
WAVE = Histogram(
    "storefleet_provisioner_wave_seconds",
    "Time to apply one wave of a store and see it ready",
    ["wave"],
    buckets=BUCKETS,
)
IN_FLIGHT = Gauge("storefleet_provisioner_in_flight", "Stores being provisioned by this process")
RETRIES = Counter(
    "storefleet_provisioner_retries_total", "Store requests handed back to retry", ["reason"]
)
FAILURES = Counter("storefleet_provisioner_failures_total", "Stores that failed", ["reason"])
PENDING = Gauge(
    "storefleet_provisioner_consumer_pending", "Messages of the provisioner consumer", ["state"]
)
CREDENTIALS = Counter(
    "storefleet_provisioner_credentials_total", "Credentials requests answered", ["result"]
)
