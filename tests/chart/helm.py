"""Running helm against the platform chart: `render` (helm template, parsed), `run` (any
helm command, in a thread-free subprocess for async tests), and walking rendered pods.

helm is the one built from Go modules by scripts/build-cluster-bins.sh, like the
control-plane binaries; the tests never use another one.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "storefleet"
ENGINE_CHARTS = REPO / "charts" / "engines"
VALUES_FILES = ("values.yaml", "values-local.yaml", "values-prod.yaml")
KUBE_VERSION = "1.36.3"  # the test control plane's; the chart needs 1.30 or later
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}

Manifest = dict[str, Any]


class HelmFailed(AssertionError):
    """helm exited non-zero; the message is its stderr."""


def values_args(values_file: str, sets: Sequence[str] = ()) -> list[str]:
    """`-f` for a values file of the chart (values.yaml itself needs none) and `--set`s."""
    args = [] if values_file == "values.yaml" else ["-f", str(CHART / values_file)]
    for item in sets:
        args += ["--set", item]
    return args


def render(
    helm: Path,
    values_file: str = "values.yaml",
    sets: Sequence[str] = (),
    namespace: str = "storefleet",
    release: str = "storefleet",
    chart: Path = CHART,
) -> list[Manifest]:
    """`helm template` of the chart (or of a copy of it), as parsed manifests."""
    argv = [str(helm), "template", release, str(chart), "--namespace", namespace,
            "--kube-version", KUBE_VERSION, *values_args(values_file, sets)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HelmFailed(done.stderr.strip())
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


async def run(helm: Path, *args: str, timeout: float = 300.0) -> str:
    """Any helm command; its stdout, or `HelmFailed` with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        str(helm), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise HelmFailed(f"helm {' '.join(args[:2])} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise HelmFailed(f"helm {' '.join(args[:2])}: {err.decode().strip()}")
    return out.decode()


def of_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: Sequence[Manifest], kind: str, name: str) -> Manifest:
    return next(m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name)


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    """The pod template's spec of a workload, or None for other kinds."""
    if manifest["kind"] == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if manifest["kind"] in POD_KINDS:
        return manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def containers(manifests: Sequence[Manifest]) -> Iterator[tuple[str, Manifest, dict[str, Any]]]:
    """(`Kind/name container`, workload, container) for every container of every pod."""
    for manifest in manifests:
        spec = pod_spec(manifest)
        if spec is None:
            continue
        for container in spec.get("containers", []):
            where = f"{manifest['kind']}/{manifest['metadata']['name']} {container['name']}"
            yield where, manifest, container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The literal environment of a container (entries taken from Secrets left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
