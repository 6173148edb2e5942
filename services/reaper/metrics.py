"""The reaper's Prometheus metrics, served on `/metrics` by `shared.health`.

Set by the deletion handler (deletions by outcome, their duration, namespaces named like
a store's but not labeled as one, which the reaper spared) and by the sweeper (sweeps,
which replica leads them, orphans found, stuck stores, namespaces stuck terminating).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELETIONS = Counter(
    "storefleet_reaper_deletions_total",
    "Handled deletion requests by outcome: deleted, already_gone, still_terminating, "
    "refused, retried, invalid",
    ["outcome"],
)
DELETION_SECONDS = Histogram(
    "storefleet_reaper_deletion_seconds",
    "From starting a namespace deletion to the namespace being gone",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
SPARED = Counter(
    "storefleet_reaper_unlabeled_namespaces_spared_total",
    "Namespaces named like a store's namespace but not labeled as it, left alone",
)
SWEEPS = Counter("storefleet_reaper_sweeps_total", "Sweeps run by this replica", ["outcome"])
LEADER = Gauge(
    "storefleet_reaper_sweeper_leader", "1 while this replica holds the sweeper lock, else 0"
)
ORPHANS = Counter(
    "storefleet_reaper_orphans_found_total",
    "Store namespaces found whose store is deleted or unknown",
    ["reason"],
)
STUCK = Counter(
    "storefleet_reaper_stuck_stores_found_total",
    "Stores found past their deadline in a transitional status",
    ["status"],
)
STUCK_NOW = Gauge(
    "storefleet_reaper_stuck_stores", "Stores past their deadline at the last sweep", ["status"]
)
TERMINATING = Gauge(
    "storefleet_reaper_namespaces_stuck_terminating",
    "Store namespaces in Terminating longer than the report threshold at the last sweep",
)
