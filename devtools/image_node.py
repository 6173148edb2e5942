"""Images the real node itself runs (besides the pause sandbox): CoreDNS, the cluster
DNS, as a static binary built by scripts/build-node-bins.sh in an image of its own.
A recipe for devtools/image_build.py; devtools/node_agents.py builds and imports it at
start."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.image_build import Recipe, Step, Workspace
from devtools.image_recipes import ROOT
from devtools.oci import ImageConfig

BUILD_SCRIPT = ROOT / "scripts" / "build-node-bins.sh"


def coredns_binary() -> str:
    """Where build-node-bins.sh keeps CoreDNS (it builds it when missing)."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, capture_output=True, text=True)
    paths = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return paths["coredns"]


def _coredns(ws: Workspace) -> None:
    target = ws.root / "coredns"
    shutil.copy2(coredns_binary(), target)
    target.chmod(0o755)


COREDNS = Recipe(
    "storefleet/coredns",
    "dev",
    # The Deployment in devtools/node_addons.py passes `-conf`; nobody's uid, no shell.
    ImageConfig(user="65532:65532", entrypoint=("/coredns",), exposed_ports=("53/udp", "53/tcp")),
    None,
    # The binary's content is the layer's key: a new version is a new layer.
    (Step("coredns", ("/coredns",), _coredns, sources=lambda: [Path(coredns_binary())]),),
)
