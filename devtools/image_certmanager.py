"""The image of cert-manager's HTTP-01 solver pods, as a recipe for devtools/image_build.py:
storefleet/acmesolver, the static acmesolver binary scripts/build-certmanager-bins.sh
builds (tools/certmanager), alone on an empty root filesystem.

The controller names it in every solver pod it creates (its --acme-http01-solver-image,
by default `docker.io/storefleet/acmesolver:<cert-manager version>`, pulled
IfNotPresent), so the tag is the cert-manager version tools/certmanager/go.mod pins.
The pods run with runAsNonRoot and no shell is needed: the image's user is numeric.
devtools/images.py lists it ON_DEMAND: only a build that names it runs the Go build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from devtools.image_build import Recipe, Step, Workspace
from devtools.image_recipes import ROOT
from devtools.oci import ImageConfig

BUILD_SCRIPT = ROOT / "scripts" / "build-certmanager-bins.sh"
GO_MOD = ROOT / "tools" / "certmanager" / "go.mod"
SOLVER_PORT = "8089/tcp"  # cert-manager's acmeSolverListenPort


def certmanager_version() -> str:
    """The cert-manager version tools/certmanager/go.mod requires: `v1.21.2`."""
    match = re.search(r"^\tgithub\.com/cert-manager/cert-manager (v\S+)$", GO_MOD.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"{GO_MOD} requires no github.com/cert-manager/cert-manager")
    return match.group(1)


def certmanager_bin_dir() -> Path:
    """Where build-certmanager-bins.sh keeps the controller and acmesolver (it builds
    them when missing: minutes, the first time)."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _acmesolver(ws: Workspace) -> None:
    target = ws.root / "acmesolver"
    shutil.copy2(certmanager_bin_dir() / "acmesolver", target)
    target.chmod(0o755)


ACMESOLVER = Recipe(
    "storefleet/acmesolver",
    certmanager_version(),
    # The controller passes --listen-port, --domain, --token and --key; nobody's uid.
    ImageConfig(user="65532:65532", entrypoint=("/acmesolver",), exposed_ports=(SOLVER_PORT,)),
    None,
    # The binary's content is the layer's key: a new build is a new layer.
    (
        Step(
            "acmesolver",
            ("/acmesolver",),
            _acmesolver,
            sources=lambda: [certmanager_bin_dir() / "acmesolver"],
        ),
    ),
)
