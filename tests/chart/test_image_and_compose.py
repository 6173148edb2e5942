"""compose.yaml and the Dockerfile, read as files: these machines have no container
engine, so neither is run here (see docs/operations.md for what is checked where)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.chart.helm import REPO

SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_names_every_service_with_its_health_check() -> None:
    services = _compose()["services"]

    assert set(services) == {"nats", "postgres", *SERVICES}
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] == "CMD", f"{name} has no health check"


def test_compose_runs_each_service_from_the_one_image_after_nats_and_postgres_are_healthy() -> None:
    services = _compose()["services"]

    for name in SERVICES:
        service = services[name]
        assert service["image"] == "storefleet:dev"
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["depends_on"] == {
            "nats": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
        }
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_compose_gives_the_provisioner_and_the_reaper_the_developers_kubeconfig() -> None:
    services = _compose()["services"]

    for name in ("provisioner", "reaper"):
        env = services[name]["environment"]
        assert env["STOREFLEET_KUBECONFIG"] == "/kube/config"
        assert any(v.endswith(":/kube/config:ro") for v in services[name]["volumes"])
    for name in ("gateway", "auditor", "webhooks"):
        assert "STOREFLEET_KUBECONFIG" not in services[name]["environment"]
    ports = {
        services[n]["environment"].get("STOREFLEET_HEALTH_PORT") for n in ("provisioner", "reaper")
    }
    assert len(ports) == 2, "on the host's network the two need different health ports"


def _stages() -> list[list[str]]:
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in text.splitlines()]
    stages: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_the_image_is_built_in_stages_from_exactly_pinned_bases() -> None:
    text = (REPO / "Dockerfile").read_text()
    bases = re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, re.MULTILINE)

    assert len(bases) == 3
    for base in bases:
        tag = base.rsplit(":", 1)[1]
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z-]+)?", tag), f"{base} is not an exact tag"
    assert "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" in text
    assert "ARG HELM_VERSION=v3.21.4" in text
    assert "npm ci" in text and "npm run build" in text


def test_the_final_stage_runs_as_a_non_root_user_with_no_build_tools() -> None:
    final = _stages()[-1]
    body = "\n".join(final)

    assert final[-1].startswith("CMD ")
    assert "USER 10001:10001" in final
    for tool in ("apt-get", "pip install", "npm", "go install", "gcc"):
        assert tool not in body, f"the final stage runs {tool}"
    for copied in ("/usr/local/bin/helm", "/app/web/dist", "/app/charts/engines",
                   "/app/services", "/app/shared"):  # fmt: skip
        assert copied in body
