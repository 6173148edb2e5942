"""The offline images (devtools/images.py) run what the production Dockerfiles build.

The Dockerfiles stay the production recipe; storefleet/platform and storefleet/medusa are
built from Debian packages instead, with their configuration written out again in
devtools/image_recipes.py. These tests read each Dockerfile's final stage (USER, WORKDIR,
CMD, ENTRYPOINT, ENV, EXPOSE, LABEL) and compare it with the configuration of the built
archive, so changing one without the other fails here. Builds are cached: only the first
run on a machine (or after the inputs change) takes minutes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools import oci
from devtools.images import build_images

REPO = Path(__file__).resolve().parents[2]
# What a base image's own configuration adds, which the Dockerfile inherits unseen.
BASE_ENTRYPOINTS: dict[str, tuple[str, ...] | None] = {
    "python": None,
    "node": ("docker-entrypoint.sh",),
}
BASE_ENV = {"PATH", "LANG"}
IMAGES = {"platform": REPO / "Dockerfile", "medusa": REPO / "engines/medusa/Dockerfile"}

pytestmark = [
    pytest.mark.timeout(3600),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("mmdebstrap") is None,
        reason="building images needs root and mmdebstrap",
    ),
]


@dataclass
class FinalStage:
    """What a Dockerfile's last stage says about the image it produces."""

    base: str = ""
    user: str = ""
    workdir: str = ""
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    expose: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    return [(word.upper(), rest) for word, rest in pairs]


def final_stage(dockerfile: Path) -> FinalStage:
    instructions = _instructions(dockerfile)
    args = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], instructions[last_from][1])
    stage = FinalStage(base=image.split()[0].split(":")[0].rsplit("/", 1)[-1])
    for word, rest in instructions[last_from + 1 :]:
        _apply(stage, word, rest)
    return stage


def _apply(stage: FinalStage, word: str, rest: str) -> None:
    if word == "USER":
        stage.user = rest
    elif word == "WORKDIR":
        stage.workdir = rest
    elif word == "CMD":
        stage.cmd = json.loads(rest)
    elif word == "ENTRYPOINT":
        stage.entrypoint = json.loads(rest)
    elif word == "EXPOSE":
        stage.expose |= {port if "/" in port else f"{port}/tcp" for port in rest.split()}
    elif word in ("ENV", "LABEL"):
        pairs = dict(pair.split("=", 1) for pair in shlex.split(rest))
        (stage.env if word == "ENV" else stage.labels).update(pairs)


def _env_pattern(value: str) -> str:
    """A Dockerfile ENV value as a regex: $VAR and ${VAR} stand for the base's value."""
    parts = re.split(r"\$\{?\w+\}?", value)
    return ".+".join(re.escape(part) for part in parts)


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    archives = build_images([f"storefleet/{name}" for name in IMAGES])
    return {
        reference.removeprefix("storefleet/").split(":")[0]: oci.read_archive(path).config
        for reference, path in archives.items()
    }


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_runs_the_same_command_as_the_same_user_in_the_same_directory(
    image: str, built: dict[str, dict[str, Any]]
) -> None:
    stage, config = final_stage(IMAGES[image]), built[image]

    assert config.get("User", "") == stage.user
    assert config.get("WorkingDir", "") == stage.workdir
    assert config.get("Cmd") == stage.cmd
    expected = stage.entrypoint if stage.entrypoint is not None else BASE_ENTRYPOINTS[stage.base]
    assert config.get("Entrypoint") == (list(expected) if expected else None)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_has_the_dockerfiles_environment_and_nothing_else_of_its_own(
    image: str, built: dict[str, dict[str, Any]]
) -> None:
    stage, config = final_stage(IMAGES[image]), built[image]
    env = dict(item.split("=", 1) for item in config["Env"])

    for name, value in stage.env.items():
        assert name in env, f"{name} is set by {IMAGES[image].name} but not in the image"
        assert re.fullmatch(_env_pattern(value), env[name]), f"{name}={env[name]} != {value}"
    assert set(env) - set(stage.env) <= BASE_ENV


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_image_exposes_the_same_ports_and_carries_the_same_labels(
    image: str, built: dict[str, dict[str, Any]]
) -> None:
    stage, config = final_stage(IMAGES[image]), built[image]

    assert set(config.get("ExposedPorts", {})) == stage.expose
    assert config.get("Labels", {}) == stage.labels


def test_the_dockerfile_reader_sees_a_changed_final_stage(tmp_path: Path) -> None:
    changed = IMAGES["platform"].read_text().replace("USER 10001:10001", "USER 10002:10002")
    changed = changed.replace("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0")
    (tmp_path / "Dockerfile").write_text(changed)

    stage = final_stage(tmp_path / "Dockerfile")

    assert stage.user == "10002:10002"
    assert stage.env["PYTHONUNBUFFERED"] == "0"
    assert stage.env["PATH"] == "/opt/venv/bin:$PATH"
    assert stage.base == "python" and stage.cmd == ["python", "-m", "services.gateway"]
