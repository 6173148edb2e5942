"""Hostile store names through the engine charts, rendered as the provisioner renders
them (its Renderer and checks): each name arrives in the setup Job's `STORE_NAME` exactly
as sent, as data, never read as template or YAML syntax, and shows up nowhere else."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from services.provisioner.engines import ENGINES
from services.provisioner.render import Renderer, chart_values, engine_manifests
from services.provisioner.spec import Manifest, StoreSpec, store_spec
from shared.events import StoreRequested, new_event
from shared.namespaces import namespace_for
from shared.plans import DEFAULT_PLANS
from tests.chart.helm import ENGINE_CHARTS, KUBE_VERSION
from tests.chart.store_kinds import cluster
from tests.security.hostile import EVERY

SETUP_JOBS = {"woocommerce": "wordpress-setup", "medusa": "medusa-setup"}


def _spec(engine: str, name: str) -> StoreSpec:
    store_id = str(uuid.uuid4())
    slug = f"shop-{store_id[:8]}"
    data = {"name": name, "slug": slug, "engine": engine, "plan": "small", "owner": "user-1",
            "namespace": namespace_for(slug, store_id)}  # fmt: skip
    event = new_event("requested", store_id, data, actor="user-1", correlation_id="names")
    assert isinstance(event, StoreRequested)
    return store_spec(event, cluster("prod"), DEFAULT_PLANS, ENGINES)


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _store_name(job: Manifest) -> str:
    containers = job["spec"]["template"]["spec"]["containers"]
    env = [e for c in containers for e in c.get("env") or [] if e["name"] == "STORE_NAME"]
    assert len(env) == 1
    value: str = env[0]["value"]
    return value


@pytest.mark.parametrize("engine", sorted(SETUP_JOBS))
@pytest.mark.parametrize("name", EVERY)
async def test_a_hostile_name_reaches_the_engine_chart_as_data(
    helm_binary: Path, engine: str, name: str
) -> None:
    shape = cluster("prod")
    spec = _spec(engine, name)
    renderer = Renderer(str(helm_binary), ENGINE_CHARTS, "prod", KUBE_VERSION, 60.0)
    rendered = engine_manifests(await renderer.render(spec, shape), spec)
    objects = [*rendered.workloads, *rendered.ingress]
    job = next(o for o in objects if o["metadata"]["name"] == SETUP_JOBS[engine])

    assert _store_name(job) == name
    carrying = [o["metadata"]["name"] for o in objects if name in _strings(o)]
    assert carrying == [SETUP_JOBS[engine]]


@pytest.mark.parametrize("disallowed", [False, True])
def test_file_mods_stay_allowed_unless_the_operator_disallows_them(
    helm_binary: Path, disallowed: bool
) -> None:
    """Owners install plugins by design (docs/security.md); an operator offering a fixed
    set turns `wordpress.disallowFileMods` on, and every WordPress pod gets the constant."""
    shape = cluster("prod")
    spec = _spec("woocommerce", "Corner Shop")
    renderer = Renderer(str(helm_binary), ENGINE_CHARTS, "prod", KUBE_VERSION, 60.0)
    argv = renderer.argv(spec.engine.chart, spec.namespace)
    argv += ["--set", f"wordpress.disallowFileMods={str(disallowed).lower()}"]
    values = json.dumps(chart_values(spec, shape))
    done = subprocess.run(argv, input=values, capture_output=True, text=True, check=True)
    rendered = engine_manifests(done.stdout, spec)
    configs = [
        e["value"]
        for obj in rendered.workloads
        for c in _pod_containers(obj)
        for e in c.get("env") or []
        if e["name"] == "WORDPRESS_CONFIG_EXTRA"
    ]

    assert len(configs) >= 3  # web, setup, cron
    assert all(("define('DISALLOW_FILE_MODS', true);" in c) is disallowed for c in configs)


def _pod_containers(obj: Manifest) -> list[dict[str, object]]:
    body = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        body = body["jobTemplate"]["spec"]
    containers: list[dict[str, object]] = (
        (body.get("template") or {}).get("spec", {}).get("containers", [])
    )
    return containers
