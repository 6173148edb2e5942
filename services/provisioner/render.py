"""Engine rendering: the per-store values of an engine chart, `helm template` run as a
subprocess, and the rendered manifests checked and labelled before anything is applied.

The checks are the guardrails' other half: a chart may render only the kinds in
`kinds.ENGINE_KINDS`, only into the store's namespace, no Secret the platform owns, no
Service beyond ClusterIP, no Ingress for another host, and no pod that shares the node's
namespaces or paths. A chart breaking one of these is refused (`EngineRefused`), and a
chart that does not render at all raises `RenderError`; both fail the store.

Called by the handler once per delivery; `helm template` is bounded by a semaphore so a
burst of requests cannot start hundreds of helm processes at once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.provisioner.kinds import ENGINE_KINDS, UnknownKind, kind_of, ref
from services.provisioner.spec import (
    SMTP_SECRET,
    STORE_SECRET,
    Cluster,
    Manifest,
    StoreSpec,
)
from shared.engine_versions import deep_merge

RELEASE = "store"
# libyaml when PyYAML has it: ten times faster, and parsing is most of a store's CPU.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STDERR_LINES = 6


class RenderError(Exception):
    """The engine chart did not render; the message is helm's own, trimmed."""


class EngineRefused(Exception):
    """The chart rendered something the platform does not allow in a store."""


@dataclass(frozen=True)
class EngineManifests:
    workloads: list[Manifest]
    ingress: list[Manifest]


def chart_values(spec: StoreSpec, cluster: Cluster) -> dict[str, Any]:
    """The per-store values every engine chart receives (see the chart READMEs), over
    the values of the store's engine version (`versions.yaml`): a version pins what it
    runs, never the store's own values."""
    return deep_merge(spec.version_values, _store_values(spec, cluster))


def _store_values(spec: StoreSpec, cluster: Cluster) -> dict[str, Any]:
    plan = spec.plan
    return {
        "store": {
            "id": spec.store_id,
            "name": spec.name,
            "slug": spec.slug,
            "host": spec.host,
            "url": spec.url,
            "platformUrl": spec.platform_url or spec.url,
            "country": cluster.country,
            "currency": cluster.currency,
        },
        "secretName": STORE_SECRET,
        "plan": {
            "name": spec.plan_name,
            "phpMemoryLimit": plan.php_memory,
            "uploadMaxSize": plan.upload_max,
            "requestsCpu": plan.requests_cpu,
            "requestsMemory": plan.requests_memory,
            "limitsCpu": plan.limits_cpu,
            "limitsMemory": plan.limits_memory,
            "containerMaxCpu": plan.container_max_cpu,
            "containerMaxMemory": plan.container_max_memory,
            "storage": plan.storage,
        },
        "ingress": {"className": cluster.ingress_class, "tlsIssuer": cluster.tls_issuer},
        "storageClass": cluster.storage_class,
        "baseDomain": cluster.base_domain,
        "smtp": {"secretName": SMTP_SECRET if cluster.mail else ""},
    }


class Renderer:
    """Runs `helm template` for an engine chart with the operator's values file."""

    def __init__(
        self,
        helm: str,
        charts_dir: Path,
        profile: str,
        kube_version: str,
        timeout: float,
        concurrency: int = 8,
    ) -> None:
        self.helm = helm
        self.charts_dir = charts_dir
        self.profile = profile
        self.kube_version = kube_version
        self.timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)

    def argv(self, chart: str, namespace: str) -> list[str]:
        chart_dir = self.charts_dir / chart
        argv = [
            self.helm,
            "template",
            RELEASE,
            str(chart_dir),
            "--namespace",
            namespace,
            "--kube-version",
            self.kube_version,
        ]
        if self.profile != "none":
            argv += ["--values", str(chart_dir / f"values-{self.profile}.yaml")]
        return [*argv, "--values", "-"]  # the per-store values, on stdin

    async def render(self, spec: StoreSpec, cluster: Cluster) -> str:
        if not (self.charts_dir / spec.engine.chart / "Chart.yaml").is_file():
            raise RenderError(f"engine chart {spec.engine.chart!r} is missing")
        # Unescaped UTF-8: helm's YAML parser refuses the surrogate pairs `\ud83d\uded2`
        # that an ASCII-only dump makes of a name with an emoji in it.
        values = json.dumps(chart_values(spec, cluster), ensure_ascii=False).encode()
        async with self._slots:
            return await self._run(self.argv(spec.engine.chart, spec.namespace), values)

    async def _run(self, argv: list[str], stdin: bytes) -> str:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HELM_NO_PLUGINS": "1"},
        )
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(stdin)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RenderError(f"helm template took longer than {self.timeout:.0f}s") from None
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()[:STDERR_LINES]
            raise RenderError("; ".join(lines) or f"helm exited with {proc.returncode}")
        return out.decode()


async def helm_version(helm: str) -> str:
    """`helm version --short`; raises OSError when the binary cannot run."""
    proc = await asyncio.create_subprocess_exec(
        helm, "version", "--short", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise OSError(f"{helm} version failed: {err.decode(errors='replace').strip()}")
    return out.decode().strip()


def engine_manifests(rendered: str, spec: StoreSpec) -> EngineManifests:
    """The chart's objects, checked, placed in the store namespace and labelled, split
    into the workloads wave and the ingress wave, each in apply order."""
    try:
        documents = [doc for doc in yaml.load_all(rendered, Loader=_LOADER) if doc]
    except yaml.YAMLError as exc:
        raise RenderError(f"the chart rendered invalid YAML: {exc}") from exc
    objects = [_placed(_checked(doc, spec), spec) for doc in documents]
    objects.sort(key=lambda obj: kind_of(obj).order)
    return EngineManifests(
        workloads=[obj for obj in objects if obj["kind"] != "Ingress"],
        ingress=[obj for obj in objects if obj["kind"] == "Ingress"],
    )


def _checked(doc: Any, spec: StoreSpec) -> Manifest:
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        raise RenderError("the chart rendered a document that is not a Kubernetes object")
    try:
        kind = kind_of(doc).kind
    except UnknownKind as exc:
        raise EngineRefused(f"engine charts may not create {exc.args[0]}") from None
    name = ref(doc)
    if kind not in ENGINE_KINDS:
        raise EngineRefused(f"engine charts may not create {kind} (the platform owns it)")
    namespace = doc["metadata"].get("namespace")
    if namespace not in (None, spec.namespace):
        raise EngineRefused(f"{name} is placed in namespace {namespace!r}, not the store's")
    for problem in _problems(doc, spec):
        raise EngineRefused(f"{name}: {problem}")
    return doc


def _problems(doc: Manifest, spec: StoreSpec) -> Iterator[str]:
    kind, body = doc["kind"], doc.get("spec") or {}
    if kind == "Secret" and doc["metadata"].get("name") in (STORE_SECRET, SMTP_SECRET):
        yield "that Secret belongs to the platform"
    if kind == "Service":
        if body.get("type", "ClusterIP") != "ClusterIP":
            yield "only ClusterIP Services are allowed; stores are reached through the Ingress"
        if body.get("externalIPs"):
            yield "externalIPs are not allowed"
    if kind == "Ingress":
        hosts = {rule.get("host") for rule in body.get("rules") or []}
        hosts |= {h for tls in body.get("tls") or [] for h in tls.get("hosts") or []}
        foreign = sorted(map(str, hosts - {spec.host}))
        if foreign:
            yield f"an Ingress may serve only {spec.host}, not {foreign}"
    pod = _pod_spec(doc)
    if pod is not None:
        yield from _pod_problems(pod)


def _pod_spec(doc: Manifest) -> dict[str, Any] | None:
    template = _pod_template(doc)
    spec = (template or {}).get("spec")
    return spec if isinstance(spec, dict) else None


def _pod_problems(pod: dict[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"{field} is not allowed"
    if any("hostPath" in volume for volume in pod.get("volumes") or []):
        yield "hostPath volumes are not allowed"
    containers = [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]
    for container in containers:
        if (container.get("securityContext") or {}).get("privileged"):
            yield f"container {container.get('name')} may not be privileged"


def _placed(doc: Manifest, spec: StoreSpec) -> Manifest:
    """The object in the store namespace, with the platform's labels on it and its pods
    (and a CronJob not suspended)."""
    doc["metadata"]["namespace"] = spec.namespace
    doc["metadata"]["labels"] = {**(doc["metadata"].get("labels") or {}), **spec.labels()}
    template = _pod_template(doc)
    if template is not None:
        meta = template.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **spec.labels()}
    if doc["kind"] == "CronJob":
        # Said outright, so that the provisioner's own apply (a resume, a retry, an
        # upgrade) takes back the `suspend: true` a suspension set.
        doc.setdefault("spec", {})["suspend"] = False
    return doc


def _pod_template(doc: Manifest) -> dict[str, Any] | None:
    body = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        body = (body.get("jobTemplate") or {}).get("spec") or {}
    template = body.get("template")
    return template if isinstance(template, dict) else None
