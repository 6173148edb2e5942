"""The provisioner's Prometheus metrics, served on `/metrics` by `shared.health`.

- `storefleet_provisioner_duration_seconds{outcome}`: one delivery, from a worker taking
  it to its outcome (ready, failed, deleted, retry);
- `storefleet_provisioner_wave_seconds{wave}`: guardrails, workloads, setup, ingress;
- `storefleet_provisioner_in_flight`: stores being provisioned in this process;
- `storefleet_provisioner_retries_total{reason}` and `..._failures_total{reason}`;
- `storefleet_provisioner_consumer_pending{state}`: the durable consumer's messages not
  yet delivered (`pending`) and delivered but not acked (`ack_pending`);
- `storefleet_provisioner_credentials_total{result}`: credentials requests answered;
- `storefleet_url_changes_total{outcome}`: stores moved to their primary domain's address
  (or back to their host).

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

# Backups and restores (issue 14). Every engine and outcome starts at 0, so the alerts'
# increase() counts the first failure.
BACKUP_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
SIZE_BUCKETS = tuple(float(1 << n) for n in range(20, 41, 2))  # 1 MiB to 1 TiB
BACKUP_SECONDS = Histogram(
    "storefleet_backup_duration_seconds",
    "Time to write one backup (dump, upload, read-back, manifest)",
    ["engine", "outcome"],
    buckets=BACKUP_BUCKETS,
)
BACKUP_BYTES = Histogram(
    "storefleet_backup_size_bytes",
    "Bytes in one backup's objects",
    ["engine"],
    buckets=SIZE_BUCKETS,
)
BACKUPS = Counter("storefleet_backups_total", "Backups by outcome", ["engine", "outcome"])
RESTORES = Counter("storefleet_restores_total", "Restores by outcome", ["engine", "outcome"])
UPGRADES = Counter(
    "storefleet_upgrades_total",
    "Engine upgrades by outcome (completed, rolled_back, failed, refused)",
    ["engine", "outcome"],
)
UPGRADE_SECONDS = Histogram(
    "storefleet_upgrade_seconds",
    "An engine upgrade from request to its outcome, backup and any rollback included",
    ["engine", "outcome"],
    buckets=BACKUP_BUCKETS,
)
PLAN_CHANGES = Counter("storefleet_plan_changes_total", "Plan changes by outcome", ["outcome"])
SUSPENSIONS = Counter(
    "storefleet_suspensions_total", "Suspends and resumes by outcome", ["kind", "outcome"]
)
URL_CHANGES = Counter(
    "storefleet_url_changes_total",
    "Stores moved to their primary domain's address or back to their host, by outcome"
    " (changed, failed, refused, replaced)",
    ["outcome"],
)


def start_backup_series(engines: list[str]) -> None:
    for engine in engines:
        for outcome in ("completed", "failed", "verify_failed"):
            BACKUPS.labels(engine=engine, outcome=outcome)
        for outcome in ("completed", "failed"):
            RESTORES.labels(engine=engine, outcome=outcome)
