"""The chart's alerts, evaluated by Prometheus's own rule engine: the PrometheusRule that
`helm template` renders becomes a rule file, each test writes the series the services
would export (with the labels a ServiceMonitor scrape adds) and the alerts it expects at
given times, and `promtool test rules` evaluates one against the other.

promtool comes from scripts/build-promtool.sh (bootstrap builds it; `devtools.promtool`
finds it in the cache). Summaries are compared exactly; descriptions are left out of the
comparison except where a test names them, so rewording advice breaks no test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.promtool import PromtoolUnavailable, promtool_binary
from tests.chart.helm import of_kind, render

NAMESPACE = "storefleet"
REAPER = {"job": "storefleet-reaper", "pod": "storefleet-reaper-7c9d4-x2k8p"}
PROVISIONER = {"job": "storefleet-provisioner", "pod": "storefleet-provisioner-5f6b8-q7w4z"}
# Plans' allowed ages (interval_hours + stale_tolerance_hours): docs/architecture.md §9.
SMALL_MAX_AGE = 30 * 3600
MEDIUM_MAX_AGE = 16 * 3600


@dataclass(frozen=True)
class Firing:
    """One firing alert: its labels besides alertname, and its annotations."""

    labels: Mapping[str, str]
    summary: str
    description: str | None = None  # compared only when given

    def expected(self) -> dict[str, Any]:
        annotations = {"summary": self.summary}
        if self.description is not None:
            annotations["description"] = self.description
        return {"exp_labels": dict(self.labels), "exp_annotations": annotations}


@dataclass(frozen=True)
class Check:
    """At `at` (minutes since the series start), exactly `firing` of `alert` fire."""

    at: int
    alert: str
    firing: Sequence[Firing] = field(default_factory=tuple)

    def promtool(self) -> dict[str, Any]:
        return {"eval_time": f"{self.at}m", "alertname": self.alert,
                "exp_alerts": [f.expected() for f in self.firing]}  # fmt: skip


def series(metric: str, exporter: Mapping[str, str], **labels: str) -> str:
    """A series as Prometheus stores it after a ServiceMonitor scrape of `exporter`."""
    every = {"namespace": NAMESPACE, **exporter, **labels}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(every.items())) + "}"


@pytest.fixture(scope="session")
def promtool() -> Path:
    try:
        return promtool_binary()
    except PromtoolUnavailable as exc:
        pytest.skip(f"promtool is not built and cannot be built here ({exc})")


@pytest.fixture(scope="session")
def rule_groups(helm_path: Path) -> list[dict[str, Any]]:
    """The rendered PrometheusRule's groups, as a Prometheus rule file holds them."""
    manifests = render(helm_path, sets=["monitoring.prometheusRule.enabled=true"])
    (rule,) = of_kind(manifests, "PrometheusRule")
    return rule["spec"]["groups"]  # type: ignore[no-any-return]


def evaluate(
    promtool: Path,
    groups: list[dict[str, Any]],
    workdir: Path,
    inputs: Mapping[str, str],
    checks: Sequence[Check],
) -> None:
    """Run `checks` against the rules fed with `inputs` (series -> promtool's values
    notation, one sample a minute); fail with promtool's report."""
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert {c.alert for c in checks} <= alerts, "a checked alert is not in the chart"
    rules = [{**g, "rules": [_compared(r, checks) for r in g["rules"]]} for g in groups]
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": rules}))
    (workdir / "tests.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in inputs.items()],
            "alert_rule_test": [c.promtool() for c in checks],
        }],
    }))  # fmt: skip
    done = subprocess.run([str(promtool), "test", "rules", "tests.yaml"], cwd=workdir,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _compared(rule: dict[str, Any], checks: Sequence[Check]) -> dict[str, Any]:
    """The rule with its description dropped unless a check compares it."""
    described = any(c.alert == rule.get("alert") and any(f.description for f in c.firing)
                    for c in checks)  # fmt: skip
    if described or "annotations" not in rule:
        return rule
    annotations = {k: v for k, v in rule["annotations"].items() if k != "description"}
    return {**rule, "annotations": annotations}


def _stale(store_id: str, plan: str) -> Firing:
    return Firing(
        {"namespace": NAMESPACE, "store_id": store_id, "plan": plan, "severity": "warning"},
        f"Store {store_id} has no verified backup within what its plan allows",
    )


AGE = "storefleet_store_backup_age_seconds"
MAX_AGE = "storefleet_store_backup_max_age_seconds"


def test_a_store_past_its_plans_backup_age_alerts_until_a_newer_backup_verifies(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    # "late" (medium, 16 h allowed) passes its age at minute 11 and backs up at minute 40;
    # "fine" (small, 30 h) is older than that all along, but within its own plan.
    inputs = {
        series(AGE, REAPER, store_id="late", plan="medium"): "57000+60x39 0+60x40",
        series(MAX_AGE, REAPER, store_id="late", plan="medium"): f"{MEDIUM_MAX_AGE}x80",
        series(AGE, REAPER, store_id="fine", plan="small"): "60000+60x80",
        series(MAX_AGE, REAPER, store_id="fine", plan="small"): f"{SMALL_MAX_AGE}x80",
    }

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(5, "StorefleetBackupStale"),
        Check(20, "StorefleetBackupStale"),  # stale for 9 minutes: still pending
        Check(30, "StorefleetBackupStale", [_stale("late", "medium")]),
        Check(45, "StorefleetBackupStale"),
    ])  # fmt: skip


def test_the_stale_backup_alert_says_how_old_the_backup_is_and_what_to_look_at(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    inputs = {
        series(AGE, REAPER, store_id="late", plan="small"): "200000x30",
        series(MAX_AGE, REAPER, store_id="late", plan="small"): f"{SMALL_MAX_AGE}x30",
    }
    stale = _stale("late", "small")
    described = Firing(stale.labels, stale.summary, (
        "The newest verified backup of store late (plan small) is 2d 7h 33m 20s old, past"
        " the plan's interval_hours + stale_tolerance_hours. Look at the store's backup"
        " Jobs in its namespace, `storefleet_backups_total` by outcome, the provisioner's"
        " logs and the object store; until a backup verifies, a restore loses more data."
    ))  # fmt: skip

    evaluate(
        promtool, rule_groups, tmp_path, inputs, [Check(20, "StorefleetBackupStale", [described])]
    )


def test_the_stale_backup_alert_survives_the_reaper_leader_moving_to_another_pod(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    # The old leader exports until minute 24; the new one from minute 20 (a rollout).
    new_leader = {**REAPER, "pod": "storefleet-reaper-7c9d4-m5n6b"}
    inputs = {
        series(AGE, REAPER, store_id="late", plan="medium"): "57000+60x24",
        series(MAX_AGE, REAPER, store_id="late", plan="medium"): f"{MEDIUM_MAX_AGE}x24",
        series(AGE, new_leader, store_id="late", plan="medium"): "_x20 58200+60x40",
        series(MAX_AGE, new_leader, store_id="late", plan="medium"): f"_x20 {MEDIUM_MAX_AGE}x40",
    }

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(22, "StorefleetBackupStale"),
        Check(30, "StorefleetBackupStale", [_stale("late", "medium")]),
    ])  # fmt: skip


BACKUPS = "storefleet_backups_total"
RESTORES = "storefleet_restores_total"


def test_a_failed_or_unverifiable_backup_alerts_for_an_hour_and_completed_ones_never(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    # Counters start at 0 for every engine and outcome (the exporters' contract).
    inputs = {
        series(BACKUPS, PROVISIONER, engine="woocommerce", outcome="completed"): "0+1x120",
        series(BACKUPS, PROVISIONER, engine="woocommerce", outcome="failed"): "0x30 1x90",
        series(BACKUPS, PROVISIONER, engine="medusa", outcome="completed"): "0+2x120",
        series(BACKUPS, PROVISIONER, engine="medusa", outcome="verify_failed"): "0x60 1x60",
    }

    def failing(engine: str, outcome: str) -> Firing:
        return Firing(
            {"namespace": NAMESPACE, "engine": engine, "outcome": outcome, "severity": "warning"},
            f"Backups of {engine} stores ended {outcome} in the last hour",
        )

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(20, "StorefleetBackupsFailing"),
        Check(32, "StorefleetBackupsFailing", [failing("woocommerce", "failed")]),
        Check(62, "StorefleetBackupsFailing",
              [failing("woocommerce", "failed"), failing("medusa", "verify_failed")]),
        Check(100, "StorefleetBackupsFailing", [failing("medusa", "verify_failed")]),
    ])  # fmt: skip


def test_a_failed_restore_alerts_and_another_releases_does_not(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    inputs = {
        series(RESTORES, PROVISIONER, engine="medusa", outcome="completed"): "0+1x60",
        series(RESTORES, PROVISIONER, engine="medusa", outcome="failed"): "0x20 1x40",
        series(RESTORES, PROVISIONER, engine="woocommerce", outcome="failed",
               namespace="storefleet-staging"): "0x5 1x55",
    }  # fmt: skip
    failed = Firing(
        {"namespace": NAMESPACE, "engine": "medusa", "severity": "warning"},
        "A medusa store restore failed in the last hour",
    )

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(15, "StorefleetRestoreFailed"),
        Check(25, "StorefleetRestoreFailed", [failed]),
    ])  # fmt: skip


def test_a_growing_outbox_alerts_after_five_minutes(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    gateway = {"job": "storefleet-gateway", "pod": "storefleet-gateway-6d7f9-a1b2c"}
    inputs = {
        series("storefleet_gateway_outbox_pending", gateway): "3x5 150x20",  # threshold 100
        series("storefleet_gateway_outbox_published_total", gateway): "0+5x5 25x20",
    }
    backlog = Firing({"severity": "critical"}, "Store requests are stuck in the gateway's outbox")

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(8, "StorefleetOutboxBacklog"),
        Check(12, "StorefleetOutboxBacklog", [backlog]),
    ])  # fmt: skip


def test_provisionings_failing_above_the_threshold_alert_after_ten_minutes(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    # From minute 10 one provisioning in three fails (threshold 20%); none before.
    duration = "storefleet_provisioner_duration_seconds_count"
    inputs = {
        series(duration, PROVISIONER, outcome="ready"): "0+3x10 32+2x39",
        series(duration, PROVISIONER, outcome="failed"): "0x10 1+1x39",
    }
    failing = Firing({"severity": "warning"}, "More than 20% of store provisionings fail")

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(15, "StorefleetProvisioningFailureRate"),
        Check(25, "StorefleetProvisioningFailureRate"),  # above since minute 20: pending
        Check(40, "StorefleetProvisioningFailureRate", [failing]),
    ])  # fmt: skip


WEBHOOKS = {"job": "storefleet-webhooks", "pod": "storefleet-webhooks-6d5c7-m2x9k"}
WEBHOOK_FAILURES = "storefleet_webhooks_failures_total"


def test_many_webhook_deliveries_given_up_alert_and_a_few_do_not(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    other = {**WEBHOOKS, "pod": "storefleet-webhooks-6d5c7-p4r8t"}
    inputs = {
        # One dead endpoint: a delivery given up every 5 minutes, 12 an hour, on each pod.
        series(WEBHOOK_FAILURES, WEBHOOKS): "0+0.2x30 6+2x30",
        series(WEBHOOK_FAILURES, other): "0+0.2x60",
        # Another installation's failures are not this one's.
        series(WEBHOOK_FAILURES, WEBHOOKS, namespace="storefleet-staging"): "0+5x60",
    }
    giving_up = Firing(
        {"namespace": NAMESPACE, "severity": "warning"},
        "More than 20 webhook deliveries were given up in the last hour",
    )

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(29, "StorefleetWebhooksGivingUp"),  # 5.8 + 5.8 in the last half hour
        Check(45, "StorefleetWebhooksGivingUp", [giving_up]),
    ])  # fmt: skip


EXPIRING = "storefleet_reaper_domain_certificates_expiring"
CERT_STEPS = "storefleet_reaper_domain_certificate_steps_total"


def test_certificates_not_renewed_alert_after_an_hour_from_the_leaders_gauge(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    follower = {**REAPER, "pod": "storefleet-reaper-7c9d4-m4n2q"}
    inputs = {
        # The leader sees 2 certificates ending within 14 days from minute 30; the other
        # replica does not run the issuer, so its gauge stays 0.
        series(EXPIRING, REAPER): "0x29 2x70",
        series(EXPIRING, follower): "0x100",
        series(EXPIRING, REAPER, namespace="storefleet-staging"): "5x100",
    }
    expiring = Firing(
        {"namespace": NAMESPACE, "severity": "warning"},
        "2 custom domain certificates end within 14 days",
    )

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(25, "StorefleetDomainCertificatesExpiring"),
        Check(80, "StorefleetDomainCertificatesExpiring"),  # 50 minutes: not yet an hour
        Check(91, "StorefleetDomainCertificatesExpiring", [expiring]),
    ])  # fmt: skip


def test_a_rate_limited_certificate_alerts_and_challenge_failures_do_not(
    promtool: Path, rule_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    inputs = {
        series(CERT_STEPS, REAPER, outcome="challenge_failed"): "0+1x60",
        series(CERT_STEPS, REAPER, outcome="rate_limited"): "0x40 1x20",
    }
    limited = Firing(
        {"namespace": NAMESPACE, "severity": "warning"},
        "The certificate authority refused custom domain certificates for its rate limits",
    )

    evaluate(promtool, rule_groups, tmp_path, inputs, [
        Check(35, "StorefleetDomainCertificatesRateLimited"),
        Check(50, "StorefleetDomainCertificatesRateLimited", [limited]),
    ])  # fmt: skip
