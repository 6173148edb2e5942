"""A real ACME issuance path as host processes: Pebble (Let's Encrypt's test ACME server)
resolving names through pebble-challtestsrv, and our cert-manager build's `controller`
running against a control plane's admin kubeconfig, with cert-manager's CRDs applied
there first. The binaries come from `scripts/build-acme-bins.sh` and
`scripts/build-certmanager-bins.sh` (docs/operations.md, 5.2); nothing here builds them.

tests/fixtures/acme.py starts these on the kwok control plane, where the HTTP-01 answers
come from a host responder; a real-node test starts the same with `http_port` and
`proxy` naming Traefik's entrypoint, so that both Pebble's validation and the
controller's self-check reach the real solver pod through the ingress.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client import ApiClient, ApiextensionsV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from devtools import procs

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("STOREFLEET_CACHE", Path.home() / ".cache" / "storefleet"))
PEBBLE_VERSION = "2.10.3"
PEBBLE_DIR = CACHE / "acme" / f"pebble-{PEBBLE_VERSION}"
CERTMANAGER_SOURCES = REPO / "tools" / "certmanager"
BUILD_COMMAND = "just acme-bins certmanager-bins"
# Take out Pebble's random validation delays, its refused nonces (one in twenty by
# default) and its reuse of valid authorizations, so each order is validated afresh.
PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
SOLVER_IMAGE = "docker.io/storefleet/acmesolver:v1.21.2"
START_TIMEOUT = 30.0


def certmanager_dir() -> Path:
    """Where build-certmanager-bins.sh puts this checkout's build: keyed by the
    cert-manager version and a hash of tools/certmanager computed as the script does
    (go.mod, go.sum, then the .go files in `sort` order)."""
    go_mod = (CERTMANAGER_SOURCES / "go.mod").read_text()
    version = next(
        line.split()[1].removeprefix("v")
        for line in go_mod.splitlines()
        if line.startswith("\tgithub.com/cert-manager/cert-manager ")
    )
    sources = sorted(
        f"./{p.relative_to(CERTMANAGER_SOURCES)}" for p in CERTMANAGER_SOURCES.rglob("*.go")
    )
    digest = hashlib.sha256()
    for name in ["go.mod", "go.sum", *sources]:
        digest.update((CERTMANAGER_SOURCES / name).read_bytes())
    return CACHE / "certmanager" / f"cert-manager-{version}-{digest.hexdigest()[:12]}"


def missing_binaries() -> list[Path]:
    """The binaries a test needs that are not built yet."""
    needed = [
        PEBBLE_DIR / "pebble",
        PEBBLE_DIR / "pebble-challtestsrv",
        certmanager_dir() / "controller",
    ]
    return [path for path in needed if not path.exists()]


@dataclass(frozen=True)
class Pebble:
    """A running Pebble: its ACME directory, management API and the root its HTTPS
    listeners are signed by (the one a client must trust to reach them)."""

    directory: str
    management: str
    https_root: Path

    def issuing_root_pem(self) -> str:
        """The root of the chain Pebble issues under, made afresh at each start: not
        `https_root`, which only signs its listeners' certificate."""
        context = ssl.create_default_context(cafile=str(self.https_root))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context) as resp:
            body: bytes = resp.read()
        return body.decode()


def pebble_config(listen_port: int, management_port: int, http_port: int) -> dict[str, Any]:
    """Pebble's configuration: HTTPS on loopback with the module's test certificate, and
    HTTP-01 validated on `http_port` of whatever the name resolves to (127.0.0.1)."""
    certs = PEBBLE_DIR / "certs" / "localhost"
    return {
        "pebble": {
            "listenAddress": f"127.0.0.1:{listen_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(certs / "cert.pem"),
            "privateKey": str(certs / "key.pem"),
            "httpPort": http_port,
            "tlsPort": procs.free_port(),  # TLS-ALPN-01: nothing answers there
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "retryAfter": {"authz": 1, "order": 1},
            "keyAlgorithm": "ecdsa",
            "profiles": {"default": {"description": "tests", "validityPeriod": 7776000}},
        }
    }


@contextlib.contextmanager
def running_pebble(workdir: Path, http_port: int) -> Iterator[Pebble]:
    """challtestsrv as Pebble's DNS (every A answer 127.0.0.1, no AAAA, its challenge
    listeners off) and Pebble on free ports; both stopped on exit."""
    dns_port, dns_management = procs.free_port(), procs.free_port()
    dns_argv = [
        str(PEBBLE_DIR / "pebble-challtestsrv"),
        f"-dnsserver=127.0.0.1:{dns_port}",
        f"-management=127.0.0.1:{dns_management}",
        "-defaultIPv6=",
        "-http01=",
        "-https01=",
        "-tlsalpn01=",
        "-doh=",
    ]
    dns_log = workdir / "challtestsrv.log"
    dns = procs.start(dns_argv, dns_log)
    try:
        procs.wait_for_port(dns_management, START_TIMEOUT, proc=dns, log=dns_log)
        with _pebble(workdir, http_port, dns_port) as pebble:
            yield pebble
    finally:
        procs.stop(dns)


@contextlib.contextmanager
def _pebble(workdir: Path, http_port: int, dns_port: int) -> Iterator[Pebble]:
    listen, management = procs.free_port(), procs.free_port()
    config = workdir / "pebble-config.json"
    config.write_text(json.dumps(pebble_config(listen, management, http_port), indent=2))
    argv = [str(PEBBLE_DIR / "pebble"), "-config", str(config), "-dnsserver"]
    log = workdir / "pebble.log"
    proc = procs.start([*argv, f"127.0.0.1:{dns_port}"], log, env=PEBBLE_ENV)
    try:
        procs.wait_for_port(listen, START_TIMEOUT, proc=proc, log=log)
        procs.wait_for_port(management, START_TIMEOUT, proc=proc, log=log)
        https_root = PEBBLE_DIR / "certs" / "pebble.minica.pem"
        yield Pebble(
            f"https://127.0.0.1:{listen}/dir", f"https://127.0.0.1:{management}", https_root
        )
    finally:
        procs.stop(proc)


def controller_argv(
    kubeconfig: Path, cluster_namespace: str, metrics: int, health: int
) -> list[str]:
    """The controller's command line: one replica without leader election, a 5 s first
    retry of a failed request (upstream waits an hour), solver pods of our image."""
    return [
        str(certmanager_dir() / "controller"),
        f"--kubeconfig={kubeconfig}",
        f"--cluster-resource-namespace={cluster_namespace}",
        "--leader-elect=false",
        "--v=2",
        "--certificate-request-minimum-backoff-duration=5s",
        f"--acme-http01-solver-image={SOLVER_IMAGE}",
        f"--metrics-listen-address=127.0.0.1:{metrics}",
        f"--healthz-listen-address=127.0.0.1:{health}",
    ]


@contextlib.contextmanager
def running_controller(
    workdir: Path, kubeconfig: Path, cluster_namespace: str, proxy: str
) -> Iterator[Path]:
    """cert-manager's controller with HTTP_PROXY=`proxy`, through which its HTTP-01
    self-check fetches http://<domain>/.well-known/acme-challenge/<token>; yields its
    log file once /livez answers, and stops it on exit."""
    metrics, health = procs.free_port(), procs.free_port()
    argv = controller_argv(kubeconfig, cluster_namespace, metrics, health)
    log = workdir / "cert-manager-controller.log"
    proc = procs.start(argv, log, env={"HTTP_PROXY": proxy, "http_proxy": proxy})
    try:
        _wait_healthy(f"http://127.0.0.1:{health}/livez", proc, log)
        yield log
    finally:
        procs.stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the controller exited with {proc.returncode}: {procs.tail(log)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the controller not healthy after {START_TIMEOUT}s: {procs.tail(log)}")


async def apply_crds(api: ApiClient) -> list[str]:
    """Create cert-manager's CRDs, replacing any of the same name (the chart tests'
    schema-less stand-ins), and wait until they are served; the names it created."""
    extensions = ApiextensionsV1Api(api)
    paths = sorted((certmanager_dir() / "crds").glob("*.yaml"))
    # libyaml's loader: the CRDs are a megabyte of YAML.
    crds = [yaml.load(path.read_text(), Loader=yaml.CSafeLoader) for path in paths]
    created = []
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            await extensions.create_custom_resource_definition(crd)
            created.append(name)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = await extensions.read_custom_resource_definition(name)
            if current.metadata.deletion_timestamp is not None:
                # An earlier user's, being deleted: wait for it to go, then make ours.
                await _wait_gone(extensions, name)
                await extensions.create_custom_resource_definition(crd)
                created.append(name)
                continue
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            await extensions.replace_custom_resource_definition(name, crd)
    for crd in crds:
        await _wait_established(extensions, crd["metadata"]["name"])
    return created


async def _wait_established(extensions: ApiextensionsV1Api, name: str) -> None:
    for _ in range(100):
        crd = await extensions.read_custom_resource_definition(name)
        conditions = crd.status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"CRD {name} not established within 10 s")


async def delete_crds(api: ApiClient, names: list[str]) -> None:
    """Delete the CRDs `apply_crds` created (and with them every object of their kinds),
    and wait until they are gone, so the next user of the cluster finds none half-deleted."""
    extensions = ApiextensionsV1Api(api)
    for name in names:
        with contextlib.suppress(ApiException):
            await extensions.delete_custom_resource_definition(name)
    for name in names:
        await _wait_gone(extensions, name)


async def _wait_gone(extensions: ApiextensionsV1Api, name: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            await extensions.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        await asyncio.sleep(0.2)
    raise TimeoutError(f"CRD {name} still there {timeout:.0f}s after its deletion")
