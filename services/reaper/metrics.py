"""The reaper's Prometheus metrics, served on `/metrics` by `shared.health`.

Set by the deletion handler (deletions by outcome, their duration, namespaces named like
a store's but not labeled as one, which the reaper spared) and by the sweeper (sweeps,
which replica leads them, orphans found, stuck stores, namespaces stuck terminating), and
by the backup keeper (each live store's backup age and the age its plan allows, which the
stale-backup alert compares, none for a store suspended, suspending or resuming; backups
requested, deleted and failed; its passes), and by the domain verifier (custom domains
by state, DNS checks by outcome, its passes).
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

BACKUP_AGE = Gauge(
    "storefleet_store_backup_age_seconds",
    "Seconds since the store's newest verified backup started (since it became ready when"
    " it has none), as of the last backup pass",
    ["store_id", "plan"],
)
BACKUP_MAX_AGE = Gauge(
    "storefleet_store_backup_max_age_seconds",
    "The backup age the store's plan allows: (interval_hours + stale_tolerance_hours) x 3600",
    ["store_id", "plan"],
)
BACKUP_PASSES = Counter(
    "storefleet_reaper_backup_passes_total", "Backup passes run by this replica", ["outcome"]
)
BACKUP_LEADER = Gauge(
    "storefleet_reaper_backup_leader", "1 while this replica runs the backup passes, else 0"
)
BACKUPS_REQUESTED = Counter(
    "storefleet_reaper_backups_requested_total", "Scheduled backups requested (new events only)"
)
BACKUPS_DEFERRED = Gauge(
    "storefleet_reaper_backups_deferred",
    "Scheduled backups due at the last pass but left for the next (per-pass cap)",
)
BACKUPS_DELETED = Counter(
    "storefleet_reaper_backups_deleted_total",
    "Backups whose objects were removed, by reason: retention, store_deleted, unfinished",
    ["reason"],
)
BACKUPS_STUCK = Counter(
    "storefleet_reaper_backups_stuck_total", "Backups failed for making no progress"
)
RESTORES_STUCK = Counter(
    "storefleet_reaper_restores_stuck_total", "Restores failed for making no progress"
)
BACKUP_ORPHANS = Counter(
    "storefleet_reaper_backup_orphans_total",
    "Backups in the bucket without a row: removed, or reported (one with a manifest)",
    ["action"],
)

ROLLOUT_LEADER = Gauge(
    "storefleet_reaper_rollout_leader", "1 while this replica drives the rollouts, else 0"
)
ROLLOUT_PASSES = Counter(
    "storefleet_reaper_rollout_passes_total", "Rollout passes run by this replica", ["outcome"]
)
ROLLOUTS = Gauge(
    "storefleet_rollouts",
    "Rollouts by state (running, paused, completed, stopped, aborted) at the last pass",
    ["state"],
)
ROLLOUT_REQUESTS = Counter(
    "storefleet_rollout_upgrades_requested_total", "Store upgrades a rollout requested"
)
ROLLOUT_STORES = Counter(
    "storefleet_rollout_stores_total",
    "Stores of a rollout whose upgrade settled: completed (upgraded), rolled_back, failed, skipped",
    ["outcome"],
)

DOMAINS = Gauge(
    "storefleet_reaper_domains",
    "Custom domains by state (pending_dns, verified, issuing, active, failed, removed)",
    ["state"],
)
DOMAIN_CHECKS = Counter(
    "storefleet_reaper_domain_checks_total",
    "Domain checks by outcome: verified, missing, wrong_token, taken, still_present,"
    " unlinked, expired, resolver_error",
    ["outcome"],
)
DOMAIN_PASSES = Counter(
    "storefleet_reaper_domain_passes_total", "Domain verifier passes", ["outcome"]
)
DOMAIN_LEADER = Gauge(
    "storefleet_reaper_domain_leader", "1 while this replica holds the domain lock, else 0"
)
DOMAIN_QUEUE = Gauge(
    "storefleet_reaper_domain_certificate_queue",
    "Verified domains waiting for the CA limits before their certificate is asked for",
)
DOMAIN_EXPIRING = Gauge(
    "storefleet_reaper_domain_certificates_expiring",
    "Active custom domains whose certificate ends within 14 days (renewal has not happened)",
)
DOMAIN_CERT_STEPS = Counter(
    "storefleet_reaper_domain_certificate_steps_total",
    "Domain issuer steps: started_issuing, started_active, active, challenge_failed,"
    " rate_limited, unserved, kube_error",
    ["outcome"],
)
