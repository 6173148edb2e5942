"""The platform chart as rendered by `helm template`, with each values file: what an
operator reviewing the manifests would check before installing them. No cluster needed;
test_install.py sends the same manifests to a real API server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from devtools.nats import nats_server_binary
from services.auditor.settings import AuditorSettings
from services.gateway.settings import GatewaySettings
from services.mailrelay.settings import MailRelaySettings
from services.provisioner.settings import ProvisionerSettings
from services.reaper import domain_objects
from services.reaper.settings import ReaperSettings
from services.webhooks.settings import WebhooksSettings
from shared.namespaces import MANAGED_BY, PLATFORM, STORE_ID
from shared.settings import ENV_PREFIX, DatabaseRolesSettings, ObjectStoreSettings
from tests.chart import helm
from tests.chart.certs import write_certificates
from tests.chart.helm import VALUES_FILES, Manifest, containers, env_of, named, of_kind, render

SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "provisioner": ProvisionerSettings,
    "reaper": ReaperSettings,
    "auditor": AuditorSettings,
    "webhooks": WebhooksSettings,
    "mailrelay": MailRelaySettings,  # only with an upstream SMTP relay (stores.smtp.host)
}
# Metric names in values.yaml's monitoring.metrics that no service exports yet. Each
# belongs to an open issue; when the service exports it under another name, change the
# name in values.yaml and take it off this list.
ASSUMED_METRICS: dict[str, str] = {
    name: "issue 14 (backups)"
    for name in (
        "storefleet_backup_duration_seconds",
        "storefleet_backup_size_bytes",
        "storefleet_backups_total",
        "storefleet_restores_total",
        "storefleet_store_backup_age_seconds",
        "storefleet_store_backup_max_age_seconds",
    )
}
ALERTS = {
    "StorefleetNamespacesStuckTerminating",
    "StorefleetProvisioningFailureRate",
    "StorefleetStoresStuck",
    "StorefleetProvisionerConsumerLag",
    "StorefleetAuditLag",
    "StorefleetOutboxBacklog",
    "StorefleetBackupStale",
    "StorefleetBackupsFailing",
    "StorefleetRestoreFailed",
}


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_passes_with_each_values_file(helm_path: Path, values_file: str) -> None:
    argv = [str(helm_path), "lint", str(helm.CHART), "--strict", "--kube-version",
            helm.KUBE_VERSION, *helm.values_args(values_file)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_template_renders_the_whole_platform_with_each_values_file(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file)

    deployments = {m["metadata"]["name"] for m in of_kind(manifests, "Deployment")}
    assert deployments == {f"storefleet-{s}" for s in SERVICES}
    budgets = {m["metadata"]["name"] for m in of_kind(manifests, "PodDisruptionBudget")}
    assert {f"storefleet-{s}" for s in SERVICES} <= budgets
    assert of_kind(manifests, "ValidatingAdmissionPolicy")
    assert of_kind(manifests, "ValidatingAdmissionPolicyBinding")
    assert named(manifests, "Ingress", "storefleet-dashboard")


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_every_container_has_requests_limits_and_probes(helm_path: Path, values_file: str) -> None:
    found = list(containers(render(helm_path, values_file)))
    missing = []
    for where, _, container in found:
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(part, {}):
                    missing.append(f"{where}: {part}.{resource}")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                missing.append(f"{where}: {probe}")

    assert len(found) >= 6  # four services, NATS, Postgres
    assert missing == []


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_every_pod_runs_non_root_with_a_read_only_root_and_no_capabilities(
    helm_path: Path, values_file: str
) -> None:
    problems = []
    for where, workload, container in containers(render(helm_path, values_file)):
        pod = helm.pod_spec(workload) or {}
        merged = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        expected = {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        problems += [f"{where}: {k}" for k, v in expected.items() if merged.get(k) != v]
        if merged.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities not all dropped")
        if merged.get("runAsUser") == 0:
            problems.append(f"{where}: runs as root")

    assert problems == []


def test_the_services_get_a_writable_tmp_and_no_service_links(helm_path: Path) -> None:
    for name in SERVICES:
        pod = helm.pod_spec(named(render(helm_path), "Deployment", f"storefleet-{name}"))
        assert pod is not None
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name
        assert pod["enableServiceLinks"] is False, name


EVERYTHING_ON = (
    "stores.smtp.host=smtp.example.com",
    "stores.smtp.username=mailer",
    "stores.plans.small.requests_cpu=500m",
    "stores.plans.small.storage=5Gi",
    "stores.engines={woocommerce}",
    "tls.clusterIssuer=letsencrypt",
    "gateway.settings.RATE_LIMIT_CREATES=5/15 minutes",
    "reaper.settings.ORPHAN_GRACE_SECONDS=600",
    "backups.enabled=true",
    "backups.s3.endpoint=https://s3.example.com",
    "backups.s3.bucket=shop-backups",
    "backups.existingSecret=backup-keys",
    "backups.egressCIDRs={10.20.0.5/32}",
    "gateway.oidc.issuer=https://login.example.com",
    "gateway.oidc.clientId=storefleet",
    "gateway.oidc.adminClaim=groups",
    "gateway.oidc.adminValues={storefleet-admins,platform}",
    "gateway.oidc.localLogin=false",
)
# Settings a service's `__main__` reads besides its own: where backups go, for the
# services that write (provisioner) or schedule and expire (reaper) them.
ALSO_READS: dict[str, type[BaseSettings]] = {
    "provisioner": ObjectStoreSettings,
    "reaper": ObjectStoreSettings,
}


@pytest.mark.parametrize(
    ("values_file", "sets"),
    [*((f, ()) for f in VALUES_FILES), ("values.yaml", EVERYTHING_ON)],
    ids=[*VALUES_FILES, "every-option"],
)
def test_each_service_accepts_every_setting_the_chart_gives_it(
    helm_path: Path, values_file: str, sets: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(helm_path, values_file, sets)
    deployments = {m["metadata"]["name"] for m in of_kind(manifests, "Deployment")}
    services = [s for s in SETTINGS if f"storefleet-{s}" in deployments]
    assert set(SERVICES) <= set(services)
    for service in services:
        manifest = named(manifests, "Deployment", f"storefleet-{service}")
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        settings_cls = SETTINGS[service]
        also = ALSO_READS.get(service)
        known = {ENV_PREFIX + name.upper() for name in settings_cls.model_fields}
        if also is not None:
            known |= {ENV_PREFIX + name.upper() for name in also.model_fields}
        given = {e["name"] for e in container["env"]}
        # What comes from the Secret gets a stand-in good enough for any key.
        secret_refs = {e["name"] for e in container["env"] if "valueFrom" in e}

        assert given - known == set(), f"{service} has no such settings"
        with monkeypatch.context() as env:
            for name in secret_refs - {"STOREFLEET_DATABASE_URL"}:
                env.setenv(name, "s" * 48)
            for name, value in env_of(container).items():
                env.setenv(name, value)
            settings_cls()  # raises if a value does not validate
            if also is not None and "STOREFLEET_BACKUP_S3_ENDPOINT" in given:
                also()


def test_the_services_connect_to_the_built_in_nats_and_postgres_by_default(
    helm_path: Path,
) -> None:
    manifests = render(helm_path)
    gateway = named(manifests, "Deployment", "storefleet-gateway")
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    database = next(e for e in container["env"] if e["name"] == "STOREFLEET_DATABASE_URL")

    assert env_of(container)["STOREFLEET_NATS_URL"] == "nats://storefleet-nats.storefleet.svc:4222"
    assert database["valueFrom"]["secretKeyRef"] == {
        "name": "storefleet-secrets", "key": "gateway-database-url",
    }  # fmt: skip
    secret = named(manifests, "Secret", "storefleet-secrets")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert (
        urlsplit(_decoded(secret)["database-url"]).hostname == "storefleet-postgres.storefleet.svc"
    )
    nats = {f"nats-{service}-password" for service in SERVICES}
    assert set(secret["data"]) == {"database-url", "postgres-password", "mail-relay-key", *nats} | {
        f"{s}-{key}" for s in DATABASE_SERVICES for key in ("database-url", "postgres-password")
    }


def test_only_the_provisioner_and_the_reaper_get_an_api_token_or_a_role(
    helm_path: Path,
) -> None:
    manifests = render(helm_path)
    tokens = {
        m["metadata"]["name"]: m["automountServiceAccountToken"]
        for m in of_kind(manifests, "ServiceAccount")
    }
    bound = {
        subject["name"]
        for kind in ("ClusterRoleBinding", "RoleBinding")
        for binding in of_kind(manifests, kind)
        for subject in binding["subjects"]
    }
    pods = [(m["metadata"]["name"], helm.pod_spec(m)) for m in manifests]
    pods_with_tokens = {
        name for name, pod in pods if pod is not None and pod["automountServiceAccountToken"]
    }

    assert tokens == {
        "storefleet-gateway": False, "storefleet-provisioner": True,
        "storefleet-reaper": True, "storefleet-auditor": False,
        "storefleet-webhooks": False,
    }  # fmt: skip
    assert bound == {"storefleet-provisioner", "storefleet-reaper"}
    assert pods_with_tokens == {"storefleet-provisioner", "storefleet-reaper"}


def _rules(manifests: list[Manifest], role: str) -> list[dict[str, Any]]:
    return named(manifests, "ClusterRole", f"storefleet-storefleet-{role}")["rules"]  # type: ignore[no-any-return]


def _granted(rules: list[dict[str, Any]], verb: str) -> set[tuple[str, str]]:
    return {
        (group, resource)
        for rule in rules
        if verb in rule["verbs"] and not rule.get("resourceNames")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_the_provisioner_may_write_exactly_the_kinds_its_guardrails_and_engine_charts_render(
    helm_path: Path,
) -> None:
    from tests.chart.store_kinds import rendered_store_kinds

    used = rendered_store_kinds(helm_path)
    rules = _rules(render(helm_path), "provisioner")

    assert _granted(rules, "create") == used
    # Server-side apply is a patch; the store Secret is only ever created.
    assert _granted(rules, "patch") == used - {("", "secrets")}
    assert all("*" not in rule["resources"] + rule["verbs"] for rule in rules)


def test_the_provisioner_may_list_and_watch_every_kind_its_status_watch_follows(
    helm_path: Path,
) -> None:
    from services.provisioner.watch import FEEDS

    rules = _rules(render(helm_path), "provisioner")
    followed = {(feed.kind.api_version.rpartition("/")[0], feed.kind.plural) for feed in FEEDS}

    assert followed <= _granted(rules, "list")
    assert followed <= _granted(rules, "watch")


def test_the_provisioner_reads_secrets_only_by_the_names_the_platform_gives_them(
    helm_path: Path,
) -> None:
    rules = _rules(render(helm_path), "provisioner")
    secret_rules = [r for r in rules if "secrets" in r["resources"]]
    readable = [r for r in secret_rules if {"get", "list", "watch"} & set(r["verbs"])]

    assert [r.get("resourceNames") for r in readable] == [["store-secret", "store-smtp"]]
    assert all("list" not in r["verbs"] and "watch" not in r["verbs"] for r in secret_rules)


# The plural of each kind the reaper applies for a custom domain.
DOMAIN_RESOURCES = {
    "ConfigMap": "configmaps",
    "Ingress": "ingresses",
    "Certificate": "certificates",
}


def _custom_domain_objects() -> list[Manifest]:
    """What the reaper applies for one verified domain (services/reaper/domain_objects.py)."""
    store_id, domain_id, domain = str(uuid.uuid4()), str(uuid.uuid4()), "shop.example.org"
    return [
        domain_objects.allowed_domains("store-shop-1a2b3c", store_id, {domain: domain_id}),
        domain_objects.ingress("store-shop-1a2b3c", store_id, domain_id, domain, "woocommerce",
                               "nginx"),
        domain_objects.certificate("store-shop-1a2b3c", store_id, domain_id, domain,
                                   "letsencrypt", "ClusterIssuer"),
    ]  # fmt: skip


def _granted_by_any_name(rules: list[dict[str, Any]], verb: str) -> set[tuple[str, str]]:
    return {
        (group, resource)
        for rule in rules
        if verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_the_reaper_may_delete_namespaces_and_write_exactly_a_custom_domains_kinds(
    helm_path: Path,
) -> None:
    rules = _rules(render(helm_path), "reaper")
    applied = {
        (m["apiVersion"].rpartition("/")[0], DOMAIN_RESOURCES[m["kind"]])
        for m in _custom_domain_objects()
    }
    verified_list = ("", "configmaps")

    # Server-side apply creates or patches; a removed domain's Ingress, Certificate and
    # key Secret are deleted, the list is rewritten.
    key = ("", "secrets")
    assert _granted_by_any_name(rules, "create") == applied
    assert _granted_by_any_name(rules, "patch") == applied
    assert _granted_by_any_name(rules, "delete") == (
        applied - {verified_list} | {("", "namespaces"), key}
    )
    assert _granted(rules, "list") == {("", "namespaces"), ("cert-manager.io", "certificates")}
    # The list is read and written by its one name; Secrets are only deleted, never read.
    named_rules = [r for r in rules if r.get("resourceNames")]
    assert [(r["resources"], r["resourceNames"]) for r in named_rules] == [
        (["configmaps"], [domain_objects.ALLOWED_DOMAINS])
    ]
    assert verified_list not in _granted(rules, "get")
    assert [r["verbs"] for r in rules if "secrets" in r["resources"]] == [["delete"]]
    assert all("*" not in rule["resources"] + rule["verbs"] for rule in rules)


def _policy(manifests: list[Manifest], suffix: str) -> tuple[Manifest, Manifest]:
    """The admission policy whose name ends with `suffix`, and its binding."""
    policy = next(
        m for m in of_kind(manifests, "ValidatingAdmissionPolicy")
        if m["metadata"]["name"].endswith(suffix)
    )  # fmt: skip
    name = policy["metadata"]["name"]
    return policy, named(manifests, "ValidatingAdmissionPolicyBinding", name)


def test_the_admission_policy_binds_to_exactly_the_provisioner_and_the_reaper(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, namespace="shop-platform")
    policy, binding = _policy(manifests, "-store-namespaces")
    condition = policy["spec"]["matchConditions"][0]["expression"]

    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert json.loads(condition.split(" in ", 1)[1]) == [
        "system:serviceaccount:shop-platform:storefleet-provisioner",
        "system:serviceaccount:shop-platform:storefleet-reaper",
    ]


def test_the_admission_policy_knows_store_namespaces_by_the_labels_the_services_use(
    helm_path: Path,
) -> None:
    """The policy spells the labels in CEL; the services take them from shared.namespaces."""
    policy, _ = _policy(render(helm_path), "-store-namespaces")
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    managed = f"labels['{MANAGED_BY}'] == '{PLATFORM}'"
    has_store_id = f"labels['{STORE_ID}'] != ''"

    for name in ("newIsStore", "oldIsStore"):
        assert managed in variables[name] and has_store_id in variables[name], variables[name]
    assert managed in variables["inStoreNamespace"], variables["inStoreNamespace"]


def test_the_custom_domains_policy_reads_the_list_the_reaper_writes_in_the_requests_namespace(
    helm_path: Path,
) -> None:
    """Both policies spell the label and the ConfigMap's name; the reaper takes them from
    services/reaper/domain_objects.py."""
    manifests = render(helm_path)
    policy, binding = _policy(manifests, "-custom-domains")
    store_policy, _ = _policy(manifests, "-store-namespaces")
    variables = {v["name"]: v["expression"] for v in store_policy["spec"]["variables"]}
    label = {domain_objects.CUSTOM_DOMAIN: "true"}
    verified_list, ingress, certificate = _custom_domain_objects()

    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert binding["spec"]["validationActions"] == ["Deny"]
    # No namespace: the ConfigMap of the request's own namespace; none there, refused.
    assert binding["spec"]["paramRef"] == {
        "name": verified_list["metadata"]["name"],
        "parameterNotFoundAction": "Deny",
    }
    assert policy["spec"]["matchConstraints"]["objectSelector"] == {"matchLabels": label}
    assert label.items() <= ingress["metadata"]["labels"].items()
    assert label.items() <= certificate["metadata"]["labels"].items()
    assert f"'{domain_objects.CUSTOM_DOMAIN}'" in variables["customDomain"]
    assert f"'{domain_objects.ALLOWED_DOMAINS}'" in variables["domainsConfigMap"]


def _nats_conf(manifests: list[Manifest]) -> str:
    return named(manifests, "ConfigMap", "storefleet-nats")["data"]["nats.conf"]  # type: ignore[no-any-return]


def _setting(manifests: list[Manifest], service: str, name: str) -> str:
    deployment = named(manifests, "Deployment", f"storefleet-{service}")
    return env_of(deployment["spec"]["template"]["spec"]["containers"][0])[f"STOREFLEET_{name}"]


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_nats_server_accepts_the_rendered_configuration(
    helm_path: Path, values_file: str, tmp_path: Path
) -> None:
    conf = tmp_path / "nats.conf"
    text = _nats_conf(render(helm_path, values_file))
    conf.write_text(text.replace("/etc/nats-tls", str(write_certificates(tmp_path))))
    passwords = {f"NATS_PASSWORD_{s.upper()}": "p" for s in SERVICES}
    env = {**os.environ, "POD_NAME": "storefleet-nats-0", **passwords}

    done = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr + done.stdout


def test_a_single_nats_server_fsyncs_every_write_and_keeps_one_copy(helm_path: Path) -> None:
    manifests = render(helm_path)

    assert named(manifests, "StatefulSet", "storefleet-nats")["spec"]["replicas"] == 1
    assert 'sync_interval: "always"' in _nats_conf(manifests)
    assert "cluster {" not in _nats_conf(manifests)
    assert _setting(manifests, "auditor", "STREAM_REPLICAS") == "1"


def test_production_runs_a_three_server_nats_cluster_with_three_copies(helm_path: Path) -> None:
    manifests = render(helm_path, "values-prod.yaml")
    conf = _nats_conf(manifests)
    routes = re.findall(r"nats://storefleet-nats-\d\.storefleet-nats-headless", conf)

    assert named(manifests, "StatefulSet", "storefleet-nats")["spec"]["replicas"] == 3
    assert len(routes) == 3
    assert 'sync_interval: "2m"' in conf
    assert _setting(manifests, "provisioner", "STREAM_REPLICAS") == "3"


def test_external_nats_and_postgres_replace_the_built_in_servers(helm_path: Path) -> None:
    sets = ["nats.mode=external", "nats.external.url=nats://nats.infra:4222",
            "stream.replicas=3", "postgres.enabled=false",
            "secrets.existingSecret=platform-credentials"]  # fmt: skip
    manifests = render(helm_path, sets=sets)

    assert of_kind(manifests, "StatefulSet") == []
    assert of_kind(manifests, "Secret") == []
    assert _setting(manifests, "gateway", "NATS_URL") == "nats://nats.infra:4222"
    assert _setting(manifests, "gateway", "STREAM_REPLICAS") == "3"


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        (["nats.mode=external"], "nats.external.url is required"),
        (["nats.mode=external", "nats.external.url=nats://x:4222"], "stream.replicas is required"),
        (["stream.replicas=3"], "more than the 1 built-in NATS servers"),
        (["nats.mode=cluster", "nats.clusterSize=2"], "odd and at least 3"),
        (["nats.mode=leaf"], "nats.mode must be single, cluster or external"),
        (["postgres.enabled=false"], "set secrets.existingSecret"),
    ],
)
def test_a_contradictory_configuration_is_refused_with_what_to_set(
    helm_path: Path, sets: list[str], complaint: str
) -> None:
    with pytest.raises(helm.HelmFailed, match=complaint):
        render(helm_path, sets=sets)


def test_production_takes_its_secrets_from_an_existing_secret(helm_path: Path) -> None:
    manifests = render(helm_path, "values-prod.yaml")
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for _, _, container in containers(manifests)
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }

    assert of_kind(manifests, "Secret") == []
    assert refs == {"storefleet-secrets"}


def test_the_dashboard_gets_a_certificate_from_cert_manager_when_an_issuer_is_set(
    helm_path: Path,
) -> None:
    local = named(render(helm_path, "values-local.yaml"), "Ingress", "storefleet-dashboard")
    prod = named(render(helm_path, "values-prod.yaml"), "Ingress", "storefleet-dashboard")

    assert "tls" not in local["spec"]
    assert local["spec"]["rules"][0]["host"] == "storefleet.localhost"
    assert prod["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert prod["spec"]["tls"] == [
        {"hosts": ["storefleet.example.com"], "secretName": "storefleet-dashboard-tls"}
    ]
    assert _setting(render(helm_path, "values-prod.yaml"), "provisioner", "TLS_ISSUER") == (
        "letsencrypt-prod"
    )


def test_each_values_file_chooses_the_engine_charts_values_file(helm_path: Path) -> None:
    chosen = {
        values_file: _setting(render(helm_path, values_file), "provisioner", "ENGINE_VALUES")
        for values_file in VALUES_FILES
    }

    assert chosen == {"values.yaml": "local", "values-local.yaml": "local",
                      "values-prod.yaml": "prod"}  # fmt: skip
    for engine_chart in helm.ENGINE_CHARTS.iterdir():
        if (engine_chart / "Chart.yaml").is_file():
            assert (engine_chart / "values-local.yaml").is_file(), engine_chart.name
            assert (engine_chart / "values-prod.yaml").is_file(), engine_chart.name


def test_the_gateway_scales_between_two_and_six_replicas_by_default(helm_path: Path) -> None:
    manifests = render(helm_path)
    hpa = named(manifests, "HorizontalPodAutoscaler", "storefleet-gateway")

    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert "replicas" not in named(manifests, "Deployment", "storefleet-gateway")["spec"]


def _exported_metric_names() -> set[str]:
    names: set[str] = set()
    for top in ("services", "shared"):
        for path in (helm.REPO / top).rglob("*.py"):
            names |= set(re.findall(r"[\"'](storefleet_[a-z0-9_]+)[\"']", path.read_text()))
    return names


def test_alerts_and_the_dashboard_use_metrics_the_services_export_or_known_assumed_ones() -> None:
    values = yaml.safe_load((helm.CHART / "values.yaml").read_text())
    used = set(values["monitoring"]["metrics"].values())
    exported = _exported_metric_names()

    assert used - exported - set(ASSUMED_METRICS) == set()
    assert set(ASSUMED_METRICS) <= used


def test_production_alerts_on_failures_stuck_stores_lag_and_the_outbox(helm_path: Path) -> None:
    manifests = render(helm_path, "values-prod.yaml")
    rules = of_kind(manifests, "PrometheusRule")[0]["spec"]["groups"][0]["rules"]
    monitor = of_kind(manifests, "ServiceMonitor")[0]

    assert {rule["alert"] for rule in rules} >= ALERTS
    assert all("@" not in rule["expr"] for rule in rules)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    services = of_kind(manifests, "Service")
    assert {s["metadata"]["name"] for s in services
            if any(p["name"] == "metrics" for p in s["spec"]["ports"])} == {
        f"storefleet-{name}" for name in SERVICES
    }  # fmt: skip


def test_the_grafana_dashboard_is_valid_json_naming_real_metrics(helm_path: Path) -> None:
    config_map = named(render(helm_path), "ConfigMap", "storefleet-dashboard")
    dashboard = json.loads(config_map["data"]["storefleet.json"])
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    values = yaml.safe_load((helm.CHART / "values.yaml").read_text())

    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert not [q for q in queries if "@" in q]
    for name in values["monitoring"]["metrics"].values():
        assert any(name in q for q in queries), f"no panel shows {name}"


def test_the_stores_public_port_reaches_the_provisioner_only_when_set(helm_path: Path) -> None:
    ported = render(helm_path, "values-local.yaml", ["stores.publicPort=18080"])
    plain = named(render(helm_path, "values-local.yaml"), "Deployment", "storefleet-provisioner")

    assert _setting(ported, "provisioner", "PUBLIC_PORT") == "18080"
    container = plain["spec"]["template"]["spec"]["containers"][0]
    assert "STOREFLEET_PUBLIC_PORT" not in env_of(container)
    assert "public_port" in ProvisionerSettings.model_fields


def test_single_sign_on_reaches_the_gateway_only_with_an_issuer_its_secret_from_the_secret(
    helm_path: Path,
) -> None:
    sso = ["gateway.oidc.issuer=https://login.example.com", "gateway.oidc.clientId=sf"]
    on = named(render(helm_path, "values.yaml", sso), "Deployment", "storefleet-gateway")
    off = named(render(helm_path, "values.yaml"), "Deployment", "storefleet-gateway")
    container = on["spec"]["template"]["spec"]["containers"][0]
    secret = next(e for e in container["env"] if e["name"] == "STOREFLEET_OIDC_CLIENT_SECRET")

    assert env_of(container)["STOREFLEET_OIDC_ISSUER"] == "https://login.example.com"
    assert env_of(container)["STOREFLEET_OIDC_REDIRECT_URL"].startswith("https://")
    assert env_of(container)["STOREFLEET_OIDC_REDIRECT_URL"].endswith("/api/v1/auth/oidc/callback")
    assert secret["valueFrom"]["secretKeyRef"]["key"] == "oidc-client-secret"
    assert secret["valueFrom"]["secretKeyRef"]["optional"] is True
    off_env = off["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not [e for e in off_env if "OIDC" in e["name"]]


DATABASE_SERVICES = ("gateway", "auditor", "reaper", "webhooks")


def _secret_keys(container: dict[str, Any]) -> dict[str, str]:
    """Setting name -> the key of the Secret it is read from."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def _all_containers(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for manifest in manifests:
        pod = helm.pod_spec(manifest) or {}
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            found.append((f"{manifest['metadata']['name']} {container['name']}", container))
    return found


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_each_service_logs_in_to_postgres_as_its_own_role(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file)
    keys = {
        service: _secret_keys(
            named(manifests, "Deployment", f"storefleet-{service}")["spec"]["template"]["spec"][
                "containers"
            ][0]
        )
        for service in SERVICES
    }

    for service in DATABASE_SERVICES:
        assert keys[service]["STOREFLEET_DATABASE_URL"] == f"{service}-database-url"
    assert "STOREFLEET_DATABASE_URL" not in keys["provisioner"]


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_only_the_database_setup_init_container_gets_the_owners_dsn(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file)
    with_owner = [
        where
        for where, c in _all_containers(manifests)
        if "database-url" in _secret_keys(c).values()
    ]

    assert with_owner == ["storefleet-gateway database-setup"]
    pod = named(manifests, "Deployment", "storefleet-gateway")["spec"]["template"]["spec"]
    [setup] = pod["initContainers"]
    assert setup["command"] == ["python", "-m", "shared.db_roles"]
    assert _secret_keys(setup) == {
        "STOREFLEET_DATABASE_URL": "database-url",
        "STOREFLEET_GATEWAY_DATABASE_URL": "gateway-database-url",
        "STOREFLEET_AUDITOR_DATABASE_URL": "auditor-database-url",
        "STOREFLEET_REAPER_DATABASE_URL": "reaper-database-url",
        "STOREFLEET_WEBHOOKS_DATABASE_URL": "webhooks-database-url",
    }
    known = {ENV_PREFIX + name.upper() for name in DatabaseRolesSettings.model_fields}
    assert {e["name"] for e in setup["env"]} <= known
    assert setup["securityContext"]["readOnlyRootFilesystem"] is True
    assert setup["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def _decoded(secret: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_the_generated_secret_gives_each_service_a_login_and_password_of_its_own(
    helm_path: Path,
) -> None:
    data = _decoded(named(render(helm_path), "Secret", "storefleet-secrets"))
    owner = urlsplit(data["database-url"])
    logins = {s: urlsplit(data[f"{s}-database-url"]) for s in DATABASE_SERVICES}

    for service, url in logins.items():
        assert url.username == f"storefleet_{service}_login"
        assert url.password == data[f"{service}-postgres-password"]
        assert len(url.password or "") >= 32
        assert (url.hostname, url.port, url.path) == (owner.hostname, owner.port, owner.path)
    passwords = {url.password for url in logins.values()} | {owner.password}
    assert len(passwords) == len(DATABASE_SERVICES) + 1


def test_external_postgres_gives_the_service_logins_the_operators_host_and_options(
    helm_path: Path,
) -> None:
    external = "postgresql://owner:secret@db.example.com:6432/shop?sslmode=require"
    sets = ["postgres.enabled=false", f"postgres.external.url={external}"]
    data = _decoded(named(render(helm_path, sets=sets), "Secret", "storefleet-secrets"))

    assert data["database-url"] == external
    for service in DATABASE_SERVICES:
        url = urlsplit(data[f"{service}-database-url"])
        assert url.username == f"storefleet_{service}_login"
        assert (url.hostname, url.port, url.path, url.query) == (
            "db.example.com", 6432, "/shop", "sslmode=require",
        )  # fmt: skip


@pytest.mark.parametrize("values_file", ["values.yaml", "values-local.yaml"])
def test_the_service_passwords_are_only_in_the_secret_never_in_values_or_literal_env(
    helm_path: Path, values_file: str
) -> None:
    manifests = render(helm_path, values_file)
    data = _decoded(named(manifests, "Secret", "storefleet-secrets"))
    passwords = [data[f"{s}-postgres-password"] for s in DATABASE_SERVICES]
    elsewhere = yaml.safe_dump_all([m for m in manifests if m["kind"] != "Secret"])
    literal = [
        f"{where} {name}"
        for where, container in _all_containers(manifests)
        for name in env_of(container)
        if "DATABASE_URL" in name
    ]

    assert [p for p in passwords if p in elsewhere] == []
    assert literal == []
    assert "password" not in json.dumps(yaml.safe_load((helm.CHART / values_file).read_text()))


BACKUPS = (
    "backups.enabled=true",
    "backups.s3.endpoint=https://s3.example.com",
    "backups.s3.bucket=shop-backups",
    "backups.s3.region=eu-central-1",
    "backups.s3.prefix=fleet/eu",
    "backups.s3.addressingStyle=virtual",
    "secrets.existingSecret=platform",
    "stores.plans.small.backup.interval_hours=12",
    "stores.plans.small.backup.keep_last=2",
)


def test_backups_reach_the_provisioner_and_the_reaper_with_the_key_pair_from_a_secret_only(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, sets=BACKUPS)
    expected = {
        "STOREFLEET_BACKUP_S3_ENDPOINT": "https://s3.example.com",
        "STOREFLEET_BACKUP_S3_BUCKET": "shop-backups",
        "STOREFLEET_BACKUP_S3_REGION": "eu-central-1",
        "STOREFLEET_BACKUP_S3_PREFIX": "fleet/eu",
        "STOREFLEET_BACKUP_S3_ADDRESSING_STYLE": "virtual",
    }
    pair = {
        "STOREFLEET_BACKUP_S3_ACCESS_KEY": "backup-s3-access-key",
        "STOREFLEET_BACKUP_S3_SECRET_KEY": "backup-s3-secret-key",
    }
    for service in ("provisioner", "reaper"):
        manifest = named(manifests, "Deployment", f"storefleet-{service}")
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "valueFrom" in e and e["name"] in pair
        }
        assert expected.items() <= env_of(container).items(), service
        assert refs == {name: {"name": "platform", "key": key} for name, key in pair.items()}
    reaper = env_of(
        named(manifests, "Deployment", "storefleet-reaper")["spec"]["template"]["spec"][
            "containers"
        ][0]
    )
    assert reaper["STOREFLEET_BACKUPS_ENABLED"] == "true"
    assert json.loads(reaper["STOREFLEET_PLANS"])["small"]["backup"]["interval_hours"] == 12
    for service in ("gateway", "auditor"):
        manifest = named(manifests, "Deployment", f"storefleet-{service}")
        names = {e["name"] for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert not {n for n in names if "BACKUP_S3" in n}, service
    config_maps = yaml.safe_dump_all(of_kind(manifests, "ConfigMap"))
    assert "BACKUP_S3" not in config_maps and "backup-s3-" not in config_maps


def test_backups_take_the_key_pair_from_their_own_secret_and_are_off_by_default(
    helm_path: Path,
) -> None:
    own = render(helm_path, sets=(*BACKUPS, "backups.existingSecret=s3-keys"))
    reaper = named(own, "Deployment", "storefleet-reaper")["spec"]["template"]["spec"]
    secrets = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in reaper["containers"][0]["env"]
        if "BACKUP_S3" in e["name"] and "valueFrom" in e
    }
    assert secrets == {"s3-keys"}
    # values-local.yaml turns them on, into the bundled object store (test_objectstore_chart.py).
    for values_file in ("values.yaml", "values-prod.yaml"):
        for where, _, container in containers(render(helm_path, values_file)):
            names = [e["name"] for e in container.get("env", [])]
            assert not [n for n in names if "BACKUP" in n], where


def test_backups_without_a_secret_for_the_key_pair_are_refused_saying_what_to_set(
    helm_path: Path,
) -> None:
    with pytest.raises(helm.HelmFailed, match="backup-s3-access-key and backup-s3-secret-key"):
        render(helm_path, sets=[s for s in BACKUPS if not s.startswith("secrets.")])
