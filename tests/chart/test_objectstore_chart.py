"""The platform chart's bundled object store (issue 14, backups.objectStore.bundled): off
unless asked for, on in values-local.yaml; a hardened StatefulSet on one volume with its
root key pair only in the generated Secret; a NetworkPolicy that lets in the provisioner,
the reaper and store namespaces' backup pods, on its port only; the endpoint the services
are given. The rendered arguments, init command and Secret are run on the real versitygw
binary and used with the platform's own S3 client.

test_install.py installs the same on a real API server (Pod Security `restricted`
enforced) and checks that `helm upgrade` keeps the key pair.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from pydantic import SecretStr

from devtools.image_recipes import OBJECTSTORE, OBJECTSTORE_UID
from devtools.images import RECIPES, reference
from devtools.objectstore import versitygw_binary
from devtools.oci import normalize_reference
from devtools.procs import free_port, start, stop, wait_for_port
from shared.namespaces import store_labels
from shared.objectstore import open_object_store
from shared.settings import ObjectStoreSettings
from tests.chart import helm
from tests.chart.helm import VALUES_FILES, Manifest, containers, env_of, named, of_kind, render

NAME = "storefleet-objectstore"
BUNDLED = ("backups.objectStore.bundled=true",)
KEYS = ("backup-s3-access-key", "backup-s3-secret-key")
BACKUP_POD = {"storefleet.io/role": "backup"}  # what a store's backup Job's pods carry
PORT = 7070
STORE_ID = str(uuid.uuid4())


def _objectstore(manifests: list[Manifest]) -> set[tuple[str, str]]:
    return {
        (m["kind"], m["metadata"]["name"])
        for m in manifests
        if m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "objectstore"
    }


def _pod(manifests: list[Manifest]) -> dict[str, Any]:
    return named(manifests, "StatefulSet", NAME)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _pod_labels(manifests: list[Manifest]) -> dict[str, str]:
    return dict(named(manifests, "StatefulSet", NAME)["spec"]["template"]["metadata"]["labels"])


def _decoded(manifests: list[Manifest]) -> dict[str, str]:
    data = named(manifests, "Secret", "storefleet-secrets")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_the_object_store_runs_only_where_it_is_bundled(helm_path: Path) -> None:
    for values_file in ("values.yaml", "values-prod.yaml"):
        manifests = render(helm_path, values_file)
        assert _objectstore(manifests) == set(), values_file
        secrets = of_kind(manifests, "Secret")
        assert not [key for s in secrets for key in s.get("data", {}) if key in KEYS]

    local = render(helm_path, "values-local.yaml")
    assert _objectstore(local) == {
        ("Service", NAME), ("StatefulSet", NAME), ("NetworkPolicy", NAME),
    }  # fmt: skip
    assert set(KEYS) <= set(_decoded(local))


def test_the_bundled_store_runs_restricted_on_a_read_only_root_with_its_data_on_a_claim(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, "values-local.yaml")
    statefulset = named(manifests, "StatefulSet", NAME)
    pod = _pod(manifests)
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }

    assert statefulset["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsUser"] == OBJECTSTORE_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["initContainers"] + pod["containers"]:
        assert restricted.items() <= container["securityContext"].items(), container["name"]
        assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["data"] == "/data"
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    server = pod["containers"][0]
    assert server["ports"] == [{"name": "s3", "containerPort": PORT, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"] == {"path": "/_/health", "port": "s3"}, probe


def test_the_store_is_labelled_as_its_component_and_served_on_7070(helm_path: Path) -> None:
    manifests = render(helm_path, "values-local.yaml", namespace="shops")
    service = named(manifests, "Service", NAME)
    pod_labels = _pod_labels(manifests)

    assert service["spec"]["ports"] == [
        {"name": "s3", "port": PORT, "targetPort": "s3", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/component"] == "objectstore"
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "objectstore"


def test_the_root_key_pair_is_random_per_install_and_never_leaves_the_secret(
    helm_path: Path,
) -> None:
    first, second = (render(helm_path, "values-local.yaml") for _ in range(2))
    keys = _decoded(first)
    server = _pod(first)["containers"][0]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in server["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    elsewhere = yaml.safe_dump_all([m for m in first if m["kind"] != "Secret"])
    literal = [e for _, _, c in containers(first) for e in c.get("env", []) if "value" in e]

    assert len(keys["backup-s3-access-key"]) >= 20 and len(keys["backup-s3-secret-key"]) >= 40
    assert [keys[k] for k in KEYS] != [_decoded(second)[k] for k in KEYS]
    assert refs == {
        "ROOT_ACCESS_KEY_ID": {"name": "storefleet-secrets", "key": "backup-s3-access-key"},
        "ROOT_SECRET_ACCESS_KEY": {"name": "storefleet-secrets", "key": "backup-s3-secret-key"},
    }
    assert [keys[k] for k in KEYS if keys[k] in elsewhere] == []
    assert [e["name"] for e in literal if e["value"] in {keys[k] for k in KEYS}] == []
    config_maps = json.dumps([m.get("data", {}) for m in of_kind(first, "ConfigMap")])
    assert not [k for k in KEYS if keys[k] in config_maps]


def _key_pair_secrets(manifests: list[Manifest]) -> dict[str, set[str]]:
    """Which Secret each reader of the key pair reads it from."""
    found: dict[str, set[str]] = {}
    for where, _, container in containers(manifests):
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef", {})
            if ref.get("key") in KEYS:
                found.setdefault(where, set()).add(ref["name"])
    return found


@pytest.mark.parametrize(
    ("sets", "secret"),
    [
        (("secrets.existingSecret=platform-credentials",), "platform-credentials"),
        (("backups.existingSecret=backup-keys",), "backup-keys"),
    ],
)
def test_a_named_secret_provides_the_key_pair_and_none_is_generated(
    helm_path: Path, sets: tuple[str, ...], secret: str
) -> None:
    manifests = render(helm_path, sets=(*BUNDLED, "backups.enabled=true", *sets))
    generated = [k for s in of_kind(manifests, "Secret") for k in s["data"] if k in KEYS]

    assert generated == []
    assert _key_pair_secrets(manifests) == {
        f"StatefulSet/{NAME} objectstore": {secret},
        "Deployment/storefleet-provisioner provisioner": {secret},
        "Deployment/storefleet-reaper reaper": {secret},
    }


def test_with_backups_on_the_provisioner_and_the_reaper_use_the_bundled_store(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, "values-local.yaml", namespace="shops")
    init = _pod(manifests)["initContainers"][0]

    for service in ("provisioner", "reaper"):
        deployment = named(manifests, "Deployment", f"storefleet-{service}")
        settings = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert settings["STOREFLEET_BACKUP_S3_ENDPOINT"] == (
            "http://storefleet-objectstore.shops.svc:7070"
        )
        assert settings["STOREFLEET_BACKUP_S3_BUCKET"] == "storefleet-backups"
    assert init["command"][-1] == "/data/s3/storefleet-backups"
    assert set.union(*_key_pair_secrets(manifests).values()) == {"storefleet-secrets"}


# -- who may connect -----------------------------------------------------------------------


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector applied to `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    tests = {
        "In": lambda e: labels.get(e["key"]) in e["values"],
        "NotIn": lambda e: labels.get(e["key"]) not in e["values"],
        "Exists": lambda e: e["key"] in labels,
        "DoesNotExist": lambda e: e["key"] not in labels,
    }
    return all(tests[e["operator"]](e) for e in selector.get("matchExpressions", []))


def _admits(
    policy: Manifest, peer_namespace: str, ns_labels: Mapping[str, str],
    pod_labels: Mapping[str, str], port: int,
) -> bool:  # fmt: skip
    """Whether the ingress rules of `policy` let a pod with `pod_labels`, in a namespace
    named `peer_namespace` with `ns_labels`, connect to `port`."""
    for rule in policy["spec"]["ingress"]:
        if not any(p["port"] == port for p in rule.get("ports", [{"port": port}])):
            continue
        for peer in rule.get("from", []):
            if "namespaceSelector" in peer:
                in_namespace = _matches(peer["namespaceSelector"], ns_labels)
            else:  # a pod selector alone means the policy's own namespace
                in_namespace = peer_namespace == policy["metadata"]["namespace"]
            if in_namespace and _matches(peer.get("podSelector", {}), pod_labels):
                return True
    return False


def test_only_the_provisioner_the_reaper_and_store_backup_pods_reach_the_store(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, "values-local.yaml", sets=["stores.smtp.host=smtp.example"])
    policy = named(manifests, "NetworkPolicy", NAME)
    policy["metadata"]["namespace"] = "storefleet"  # where the release installs it
    platform_ns = {"kubernetes.io/metadata.name": "storefleet"}
    store_ns = {**store_labels(STORE_ID, "woocommerce"),
                "kubernetes.io/metadata.name": "store-shop-0b1c2d"}  # fmt: skip
    stranger_ns = {"kubernetes.io/metadata.name": "default"}

    def component(name: str) -> dict[str, str]:
        deployment = named(manifests, "Deployment", f"storefleet-{name}")
        return dict(deployment["spec"]["template"]["metadata"]["labels"])

    def admitted(namespace: dict[str, str], pod: dict[str, str], port: int = PORT) -> bool:
        name = namespace["kubernetes.io/metadata.name"]
        return _admits(policy, name, namespace, pod, port)

    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (_pod_labels(manifests).items())
    assert admitted(platform_ns, component("provisioner"))
    assert admitted(platform_ns, component("reaper"))
    assert admitted(store_ns, BACKUP_POD)
    refused = {
        "gateway": admitted(platform_ns, component("gateway")),
        "auditor": admitted(platform_ns, component("auditor")),
        "webhooks": admitted(platform_ns, component("webhooks")),
        "mail relay": admitted(platform_ns, component("mailrelay")),
        "a store's web pod": admitted(store_ns, {"app.kubernetes.io/name": "wordpress"}),
        "a backup pod outside store namespaces": admitted(stranger_ns, BACKUP_POD),
        "a backup pod in the platform namespace": admitted(platform_ns, BACKUP_POD),
        "provisioner labels in a store namespace": admitted(store_ns, component("provisioner")),
        "the provisioner on another port": admitted(platform_ns, component("provisioner"), 22),
        "a backup pod on another port": admitted(store_ns, BACKUP_POD, 8081),
    }
    assert [who for who, let_in in refused.items() if let_in] == []


# -- the endpoint --------------------------------------------------------------------------


def _endpoint(helm_path: Path, tmp_path: Path, namespace: str, sets: tuple[str, ...]) -> str:
    """What `storefleet.backupS3Endpoint` yields, from a copy of the chart with one more
    template that shows it."""
    chart = tmp_path / "chart"
    if not chart.exists():
        shutil.copytree(helm.CHART, chart)
        (chart / "templates" / "zz-endpoint.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: endpoint}\n"
            'data: {endpoint: {{ include "storefleet.backupS3Endpoint" . | quote }}}\n'
        )
    manifests = render(helm_path, sets=sets, namespace=namespace, chart=chart)
    return str(named(manifests, "ConfigMap", "endpoint")["data"]["endpoint"])


def test_the_services_endpoint_is_the_bundled_services_full_name_from_any_namespace(
    helm_path: Path, tmp_path: Path
) -> None:
    bundled = _endpoint(helm_path, tmp_path, "shops", BUNDLED)
    operators = _endpoint(helm_path, tmp_path, "shops", ("backups.s3.endpoint=https://s3.example",))
    url = urlsplit(bundled)

    assert bundled == "http://storefleet-objectstore.shops.svc:7070"
    assert (url.hostname or "").split(".")[:3] == [NAME, "shops", "svc"]
    assert url.port == PORT
    assert operators == "https://s3.example"
    settings = ObjectStoreSettings(
        backup_s3_endpoint=bundled, backup_s3_bucket="storefleet-backups",
        backup_s3_access_key="a", backup_s3_secret_key=SecretStr("s"),
    )  # fmt: skip
    assert settings.backup_s3_endpoint == bundled


@pytest.mark.parametrize("bucket", ["../etc", "Backups", "a"])
def test_a_bucket_name_s3_would_refuse_is_refused_before_it_becomes_a_path(
    helm_path: Path, bucket: str
) -> None:
    with pytest.raises(helm.HelmFailed, match="is not an S3 bucket name"):
        render(helm_path, sets=(*BUNDLED, f"backups.s3.bucket={bucket}"))


# -- the image -----------------------------------------------------------------------------


def test_values_local_runs_the_object_store_image_built_here_as_its_user(
    helm_path: Path,
) -> None:
    pod = _pod(render(helm_path, "values-local.yaml"))
    images = {normalize_reference(c["image"]) for c in pod["initContainers"] + pod["containers"]}

    assert OBJECTSTORE in RECIPES
    assert images == {reference("objectstore")}
    assert OBJECTSTORE.config.user == f"{OBJECTSTORE_UID}:{OBJECTSTORE_UID}"
    assert OBJECTSTORE.config.entrypoint == ("/usr/local/bin/versitygw",)
    assert OBJECTSTORE.steps[0].outputs == ("/usr/local/bin/versitygw",)
    assert OBJECTSTORE.tag in versitygw_binary().parent.name  # versitygw-<version>


# -- the rendered server, run ----------------------------------------------------------------


@contextmanager
def _rendered_server(manifests: list[Manifest], workdir: Path) -> Iterator[int]:
    """The init container's command, then versitygw with the StatefulSet's arguments and
    the Secret's key pair, its volume at `workdir` and its port a free one."""
    pod = _pod(manifests)
    [init], [server] = pod["initContainers"], pod["containers"]
    subprocess.run([part.replace("/data", str(workdir)) for part in init["command"]], check=True)
    port = free_port()
    args = [a.replace(":7070", f"127.0.0.1:{port}").replace("/data", str(workdir))
            for a in server["args"]]  # fmt: skip
    keys = _decoded(manifests)
    env = {
        e["name"]: keys[e["valueFrom"]["secretKeyRef"]["key"]]
        for e in server["env"]
        if "valueFrom" in e
    }
    log = workdir / "versitygw.log"
    proc = start([str(versitygw_binary()), *args], log, env=env)
    try:
        wait_for_port(port, 20, proc=proc, log=log)
        yield port
    finally:
        stop(proc)


async def test_the_rendered_store_serves_its_bucket_to_the_platforms_client(
    helm_path: Path, tmp_path: Path
) -> None:
    sets = (*BUNDLED, "backups.s3.bucket=shop-backups", "backups.s3.region=eu-west-1")
    manifests = render(helm_path, sets=sets)
    keys = _decoded(manifests)

    with _rendered_server(manifests, tmp_path) as port:
        settings = ObjectStoreSettings(
            backup_s3_endpoint=f"http://127.0.0.1:{port}",
            backup_s3_bucket="shop-backups",
            backup_s3_region="eu-west-1",
            backup_s3_access_key=keys["backup-s3-access-key"],
            backup_s3_secret_key=SecretStr(keys["backup-s3-secret-key"]),
        )
        async with open_object_store(settings) as store, aiohttp.ClientSession() as http:
            await store.check_bucket()
            key = store.backup_key(STORE_ID, str(uuid.uuid4()), "database.dump")
            async with http.put(await store.presign_put(key), data=b"dump") as put:
                assert put.status == 200, await put.text()
            async with http.get(await store.presign_get(key)) as got:
                body = await got.read()
            async with http.get(f"http://127.0.0.1:{port}/_/health") as health:
                assert health.status == 200
            info = await store.head(key)

    assert body == b"dump"
    assert info is not None and info.size == 4
    assert (tmp_path / "s3" / "shop-backups").is_dir()  # the bucket: a directory


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_passes_with_the_store_bundled(helm_path: Path, values_file: str) -> None:
    argv = [str(helm_path), "lint", str(helm.CHART), "--strict", "--kube-version",
            helm.KUBE_VERSION, *helm.values_args(values_file, BUNDLED)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
