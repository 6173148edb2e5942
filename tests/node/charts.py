"""The charts as the real node runs them: `helm template` of an engine chart (with the
operator's values-local.yaml and a store's values) or of the platform chart, with the
storefleet/* images in place of the upstream ones, so a test applies exactly the pods a
store or the platform would run and a chart change that breaks an image fails it; then
applied into a namespace enforcing `restricted` and waited for.

Used by tests/node/test_images_on_node.py; helm is the one scripts/build-cluster-bins.sh
builds, as everywhere in the tests.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from devtools.cluster import ensure_binaries
from services.provisioner.engines import ENGINES
from services.provisioner.render import RELEASE, chart_values
from services.provisioner.settings import PRIVATE_CIDRS
from services.provisioner.spec import STORE_SECRET, Cluster, Manifest, store_spec
from shared.events import new_event
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import CHART, ENGINE_CHARTS, KUBE_VERSION
from tests.node.conftest import Kubectl, eventually, restricted_namespace

CLUSTER = Cluster(
    base_domain="stores.localhost",
    ingress_class="traefik",
    ingress_namespace="kube-system",
    platform_namespace="storefleet",
    dns_namespace="kube-system",
    storage_class="",  # the default class: local-path
    tls_issuer="",
    egress_blocked_cidrs=PRIVATE_CIDRS,
    values_profile="local",
    country="DE",
    currency="EUR",
)


@cache
def helm() -> Path:
    return ensure_binaries() / "helm"


def template(chart: Path, namespace: str, values_files: Sequence[Path], values: Manifest,
             release: str) -> list[Manifest]:  # fmt: skip
    """`helm template` of `chart`, the values as the last values file; parsed."""
    argv = [str(helm()), "template", release, str(chart), "--namespace", namespace,
            "--kube-version", KUBE_VERSION]  # fmt: skip
    for path in values_files:
        argv += ["--values", str(path)]
    done = subprocess.run([*argv, "--values", "-"], input=json.dumps(values),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"helm template {chart.name} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def engine(chart: str, namespace: str, slug: str, **values: Any) -> list[Manifest]:
    """An engine chart as the provisioner renders it for store `slug`: its per-store
    values (`services.provisioner.render.chart_values`) with Ingresses on Traefik and
    the local profile (whose images are the storefleet/* ones), plus any further
    `values` (merged one level deep)."""
    data = {"name": f"Shop {slug}", "slug": slug, "engine": chart, "plan": "small",
            "owner": "user-1", "namespace": namespace}  # fmt: skip
    event = new_event("requested", str(uuid.uuid4()), data, actor="user-1", correlation_id="t")
    spec = store_spec(event, CLUSTER, DEFAULT_PLANS, ENGINES)  # type: ignore[arg-type]
    store = chart_values(spec, CLUSTER)
    for key, value in values.items():
        store[key] = {**store.get(key, {}), **value} if isinstance(value, dict) else value
    directory = ENGINE_CHARTS / chart
    values_file = directory / f"values-{CLUSTER.values_profile}.yaml"
    return template(directory, namespace, [values_file], store, RELEASE)


def platform(namespace: str) -> list[Manifest]:
    """The platform chart with values-local.yaml as it is."""
    return template(CHART, namespace, [CHART / "values-local.yaml"], {}, "storefleet")


def pick(manifests: Sequence[Manifest], *refs: str) -> list[Manifest]:
    """The objects named `Kind/name`, in that order; each must have been rendered."""
    by_ref = {f"{m['kind']}/{m['metadata']['name']}": m for m in manifests}
    missing = [ref for ref in refs if ref not in by_ref]
    assert not missing, f"the chart rendered no {missing}"
    return [by_ref[ref] for ref in refs]


def secret(namespace: str, name: str = STORE_SECRET, **data: str) -> Manifest:
    """A Secret of string values; keys given with underscores become dashes."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {key.replace("_", "-"): value for key, value in data.items()},
    }


# -- on the node ------------------------------------------------------------------------


def new_namespace(kubectl: Kubectl, prefix: str) -> str:
    """A fresh namespace enforcing `restricted`, once its default service account exists
    (pods are refused before)."""
    name = f"t-{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl.apply(restricted_namespace(name))
    account = ("get", "serviceaccount", "default", "-n", name, "--ignore-not-found", "-o", "name")
    eventually(lambda: bool(kubectl(*account).strip()), "the default service account")
    return name


def apply(kubectl: Kubectl, namespace: str, *objects: Manifest) -> None:
    """Rendered objects into `namespace` (helm template leaves theirs out); cluster-wide
    ones stay cluster-wide."""
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    kubectl("apply", "-n", namespace, "-f", "-", input=body)


def rolled_out(kubectl: Kubectl, namespace: str, *workloads: str, timeout: int = 150) -> None:
    """Wait for each `kind/name` to have its pods ready; fail with the tail of its logs."""
    for workload in workloads:
        try:
            kubectl("rollout", "status", "-n", namespace, workload, f"--timeout={timeout}s")
        except AssertionError as failed:
            logs = kubectl("logs", "-n", namespace, workload, "--all-containers", "--tail=20",
                           check=False)  # fmt: skip
            raise AssertionError(f"{failed}; the logs of {workload}:\n{logs}") from None


def pod_of(kubectl: Kubectl, namespace: str, workload: str) -> str:
    """The name of a pod of `kind/name`."""
    selector = kubectl.get(workload, "-n", namespace)["spec"]["selector"]["matchLabels"]
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = kubectl.get("pods", "-n", namespace, "-l", labels)["items"]
    return str(pods[0]["metadata"]["name"])
