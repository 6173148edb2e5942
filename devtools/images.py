"""Container images for a real node, built offline: no registry, no Docker.

    python -m devtools.images build [NAME ...]                    archives, one path a line
    python -m devtools.images import --address SOCKET [NAME ...]  into containerd (k8s.io)
    python -m devtools.images list                                names and references

NAME is `pause`, `storefleet/pause` or `storefleet/pause:dev`; none means all images but
the older engine versions and cert-manager's solver (ON_DEMAND), built only when named
(`medusa:0.0.9`, `acmesolver`): see devtools/image_recipes.py,
devtools/image_standins.py and devtools/image_certmanager.py for what each holds. A name
without a tag means the image's current version. Archives are OCI image layouts under
`${STOREFLEET_CACHE:-~/.cache/storefleet}/images/archives`, named by a hash of their
inputs: a build redoes only what changed since the last one and says, on stderr, what it
built and what it reused. containerd stores each image under its full name,
`docker.io/storefleet/<name>:<tag>` (`reference()`); pods use `imagePullPolicy: Never`
or `IfNotPresent`.

devtools/node_agents.py calls `build_images`, devtools/node.py `import_images`. Building
needs root (mmdebstrap, chroot), gcc, npm and network access to deb.debian.org, PyPI and
the npm registry.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from devtools import oci
from devtools.image_build import Built, ImageBuilder, Recipe
from devtools.image_certmanager import ACMESOLVER
from devtools.image_node import COREDNS
from devtools.image_recipes import (
    BACKUP,
    MEDUSA,
    MEDUSA_0_0_9,
    OBJECTSTORE,
    PAUSE,
    PLATFORM,
    TOOLBOX,
)
from devtools.image_standins import MARIADB, NATS, POSTGRES, REDIS
from devtools.rootfs import prune_rootfs

RECIPES: tuple[Recipe, ...] = (
    PAUSE,
    COREDNS,
    TOOLBOX,
    NATS,
    REDIS,
    POSTGRES,
    MARIADB,
    OBJECTSTORE,
    PLATFORM,
    MEDUSA,
    BACKUP,
    MEDUSA_0_0_9,
    ACMESOLVER,
)
# Older engine versions, for stores created on them and upgraded, and cert-manager's
# HTTP-01 solver (its Go build takes minutes): built when a test or a command names
# them, never by a build of "everything".
ON_DEMAND: tuple[Recipe, ...] = (MEDUSA_0_0_9, ACMESOLVER)
NAMESPACE = "k8s.io"


def say(text: str) -> None:
    print(f"[images] {text}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    root = os.environ.get("STOREFLEET_CACHE") or str(Path.home() / ".cache" / "storefleet")
    return Path(root) / "images"


def recipe(name: str) -> Recipe:
    """The recipe called `name`: `pause`, `storefleet/pause`, `storefleet/pause:dev`,
    `pause:dev` or the full `docker.io/storefleet/pause:dev`. Without a tag, the current
    version: the first listed, never one ON_DEMAND."""
    for candidate in sorted(RECIPES, key=lambda r: r in ON_DEMAND):
        full = oci.normalize_reference(candidate.reference)
        tagged = f"{candidate.short_name}:{candidate.tag}"
        if name in (candidate.short_name, candidate.name, candidate.reference, tagged, full):
            return candidate
    known = ", ".join(f"{candidate.short_name}:{candidate.tag}" for candidate in RECIPES)
    raise KeyError(f"no image {name!r}; known: {known}")


def reference(name: str) -> str:
    """The name containerd stores image `name` under: docker.io/storefleet/pause:dev."""
    return oci.normalize_reference(recipe(name).reference)


def select(names: Sequence[str] | None) -> list[Recipe]:
    if not names:
        return [r for r in RECIPES if r not in ON_DEMAND]
    return [recipe(name) for name in names]


def build_images(names: Sequence[str] | None = None) -> dict[str, Path]:
    """Build the named images (all but ON_DEMAND when None), reusing what is cached;
    their archives, by reference (`storefleet/pause:dev`)."""
    cache = cache_dir()
    builder = ImageBuilder(cache)
    started = time.time()
    results: dict[str, Path] = {}
    with _locked(cache):
        for wanted in select(names):
            built = builder.build(wanted)
            say(describe(built))
            results[wanted.reference] = built.archive
        builder.prune_layers(older_than=started)
        prune_rootfs(cache, [r.base for r in RECIPES if r.base is not None])
    return results


def describe(built: Built) -> str:
    size = f"{built.size / 2**20:.1f} MiB"
    if not built.fresh:
        return f"reused {built.recipe.reference} ({size}, checked in {built.seconds:.1f}s)"
    made = f": {', '.join(built.parts)}" if built.parts else ""
    return f"built {built.recipe.reference} in {built.seconds:.1f}s ({size}){made}"


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One build at a time per cache (node.py and a terminal may both ask)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def import_images(address: str, names: Sequence[str] | None = None) -> None:
    """Build (or find cached) the named images, all but ON_DEMAND when None, and import
    each into the containerd at socket `address`, namespace k8s.io, unless it holds that
    exact image already. Uses Debian's `ctr`."""
    import_archives(address, build_images(names).values())


def latest_archives() -> dict[str, Path]:
    """The newest archive built of each image, by reference; none built, not listed.
    Nothing is built: this is what a node that starts imports (`just images` builds)."""
    found: dict[str, Path] = {}
    archives = cache_dir() / "archives"
    for known in RECIPES:
        prefix = f"{known.short_name}-{known.tag}-"
        candidates = [p for p in archives.glob(f"{prefix}*.tar") if p.name.count("-") ==
                      prefix.count("-")]  # fmt: skip
        if candidates:
            found[known.reference] = max(candidates, key=lambda p: p.stat().st_mtime)
    return found


def import_archives(address: str, archives: Iterable[Path]) -> None:
    """Import each archive into the containerd at socket `address` (namespace k8s.io),
    unless it holds that exact image already."""
    present = _present(address)
    for archive in archives:
        image = oci.read_archive(archive)
        if present.get(image.name) == image.manifest_digest:
            say(f"{image.name} is already in containerd")
            continue
        started = time.monotonic()
        _ctr(address, "images", "import", str(archive))
        say(f"imported {image.name} in {time.monotonic() - started:.1f}s")


def _present(address: str) -> dict[str, str]:
    """The images containerd holds in k8s.io: name -> manifest digest."""
    listing = _ctr(address, "images", "ls")
    present = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            present[fields[0]] = fields[2]
    return present


def _ctr(address: str, *argv: str) -> str:
    command = ["ctr", "--address", address, "--namespace", NAMESPACE, *argv]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build archives and print their paths")
    build.add_argument("names", nargs="*", metavar="NAME")
    load = commands.add_parser("import", help="build, then import into containerd")
    load.add_argument("--address", required=True, help="containerd's socket")
    load.add_argument("names", nargs="*", metavar="NAME")
    commands.add_parser("list", help="image names and the references containerd uses")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for archive in build_images(args.names).values():
                print(archive)
        elif args.command == "import":
            import_images(args.address, args.names)
        else:
            for known in RECIPES:
                name = f"{known.short_name}:{known.tag}"
                print(f"{name:24} {oci.normalize_reference(known.reference)}")
    except (KeyError, RuntimeError, FileNotFoundError) as error:
        say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
