"""Building one image from its recipe, with every expensive part cached by its inputs.

An image is a Debian base (devtools/rootfs.py) or nothing, plus one layer per step. A
step's key hashes its function's source, its parameters, the content of the repository
files it names and the base's key; its layer is cached as `<cache>/layers/<key>.tar.gz`.
An image's key hashes its name, configuration, base and step keys, and names its archive
`<cache>/archives/<name>-<tag>-<key>.tar`. So a build redoes only what changed: a new
services/ file re-makes the platform's app layer and re-assembles its archive, nothing
else.

Steps that must run in the image (a virtualenv, compileall) get the base unpacked in a
scratch directory and run with `chroot` in a private mount namespace, so nothing they
mount outlives them. Steps are independent: each sees the base, never another step's
output. Recipes are in devtools/image_recipes.py; devtools/images.py drives this module.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtools import oci
from devtools.rootfs import Debian, ensure_rootfs, run_logged

# Bump when this module changes what a layer or an archive contains.
BUILD_RECIPE = 1
EXCLUDED_NAMES = frozenset({"__pycache__", ".DS_Store"})
EXCLUDED_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class Workspace:
    """Where a step works: `root` is the image's tree (the base unpacked, or empty) and
    `scratch` a directory of its own; commands log to `log`."""

    root: Path
    scratch: Path
    log: Path

    def run(self, argv: Sequence[str], cwd: Path | None = None, **env: str) -> None:
        """Run argv on the host, output to the log; raise with the log's tail on failure."""
        run_logged(list(argv), self.log, cwd=cwd, env={**os.environ, **env})

    def chroot(self, *argv: str) -> None:
        """Run argv inside `root` with /dev and /proc, in a mount namespace of its own,
        with a clean environment (the host's PIP_*, SSL_* paths mean nothing there)."""
        script = 'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && shift'
        script += ' && exec "$@"'
        env = {"PATH": oci.DEFAULT_PATH.split("=", 1)[1], "HOME": "/root", "LANG": "C.UTF-8"}
        argv_ns = ["unshare", "--mount", "--propagation=private", "--", "sh", "-c", script]
        argv_ns += ["sh", str(self.root), "chroot", str(self.root), *argv]
        run_logged(argv_ns, self.log, env=env)


@dataclass(frozen=True)
class Step:
    """One layer above the base. `run` writes into the workspace's root; the layer
    carries `outputs` (absolute paths in the image). `sources` names the host files and
    directories the step reads (their content is part of its key); `spec` whatever else
    it depends on that its source code does not show."""

    label: str
    outputs: tuple[str, ...]
    run: Callable[[Workspace], None]
    sources: Callable[[], Sequence[Path]] = field(default=lambda: ())
    spec: str = ""
    in_image: bool = False  # runs commands in the image: needs the base unpacked


@dataclass(frozen=True)
class Recipe:
    """An image: its name (a contract with the charts), tag, base, steps and config."""

    name: str
    tag: str
    config: oci.ImageConfig
    base: Debian | None
    steps: tuple[Step, ...]

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Built:
    """The outcome of building one image."""

    recipe: Recipe
    archive: Path
    fresh: bool  # built now, rather than found in the cache
    seconds: float
    parts: tuple[str, ...] = ()  # what was made: "base 74s", "layer app 3s", ...

    @property
    def size(self) -> int:
        return self.archive.stat().st_size


# -- keys --------------------------------------------------------------------------------


def tree_files(path: Path) -> list[Path]:
    """The files under `path` an image would copy (no caches, as .dockerignore says)."""
    if path.is_file():
        return [path]
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_NAMES)
        for name in sorted(filenames):
            if name not in EXCLUDED_NAMES and not name.endswith(EXCLUDED_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def content_digest(paths: Iterable[Path]) -> str:
    """A digest of the names (below each of `paths`), modes and bytes of their files."""
    sha = hashlib.sha256()
    for top in paths:
        if not top.exists():
            raise FileNotFoundError(f"{top} is missing: the image needs it")
        for path in tree_files(top):
            name = f"{top.name}/{path.relative_to(top)}"
            sha.update(f"{name}\0{path.stat().st_mode & 0o777:o}\0".encode())
            with path.open("rb") as data:
                while chunk := data.read(1 << 20):
                    sha.update(chunk)
    return sha.hexdigest()


def step_key(step: Step, base_key: str) -> str:
    recipe = [BUILD_RECIPE, step.label, step.outputs, step.spec, base_key]
    recipe += [inspect.getsource(step.run), content_digest(step.sources())]
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]


def image_key(recipe: Recipe, base_key: str, step_keys: Sequence[str]) -> str:
    parts = [BUILD_RECIPE, recipe.reference, recipe.config.to_json(), base_key, list(step_keys)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# -- building ----------------------------------------------------------------------------


class ImageBuilder:
    """Builds recipes into archives under `cache`, reusing what it can."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.layers = cache / "layers"
        self.archives = cache / "archives"
        self.logs = cache / "logs"
        self.work = cache / "work"

    def archive_path(self, recipe: Recipe, key: str) -> Path:
        return self.archives / f"{recipe.short_name}-{recipe.tag}-{key}.tar"

    def build(self, recipe: Recipe) -> Built:
        started = time.monotonic()
        base_key = recipe.base.key if recipe.base else "scratch"
        keys = [step_key(step, base_key) for step in recipe.steps]
        archive = self.archive_path(recipe, image_key(recipe, base_key, keys))
        if archive.exists():
            return Built(recipe, archive, False, time.monotonic() - started)
        for directory in (self.layers, self.archives, self.logs, self.work):
            directory.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{recipe.short_name}-{recipe.tag}.log"
        log.write_text(f"building {recipe.reference}\n")
        parts: list[str] = []
        layers = self._base_layer(recipe, log, parts)
        layers += self._step_layers(recipe, keys, log, parts)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        oci.write_archive(archive, recipe.reference, recipe.config, layers, created)
        self._forget_older(recipe, archive)
        return Built(recipe, archive, True, time.monotonic() - started, tuple(parts))

    def _base_layer(self, recipe: Recipe, log: Path, parts: list[str]) -> list[oci.Layer]:
        if recipe.base is None:
            return []
        rootfs, seconds = ensure_rootfs(recipe.base, self.cache, log)
        if seconds is not None:
            parts.append(f"base {recipe.base.suite} {seconds:.0f}s")
        label = f"debian {recipe.base.suite}: {' '.join(sorted(recipe.base.packages))}"
        return [self._cached_layer(f"base-{recipe.base.key}", label, parts, _base_filler(rootfs))]

    def _step_layers(
        self, recipe: Recipe, keys: list[str], log: Path, parts: list[str]
    ) -> list[oci.Layer]:
        layers = []
        for step, key in zip(recipe.steps, keys, strict=True):
            cached = self._load_layer(f"{recipe.short_name}-{step.label}-{key}", step.label)
            layers.append(cached or self._run_step(recipe, step, key, log, parts))
        return layers

    def _run_step(
        self, recipe: Recipe, step: Step, key: str, log: Path, parts: list[str]
    ) -> oci.Layer:
        work = self.work / f"{recipe.short_name}-{step.label}"
        remove_tree(work)
        root, scratch = work / "root", work / "scratch"
        root.mkdir(parents=True)
        scratch.mkdir()
        started = time.monotonic()
        try:
            if step.in_image and recipe.base is not None:
                rootfs, _ = ensure_rootfs(recipe.base, self.cache, log)
                run_logged(["tar", "-xf", str(rootfs), "-C", str(root), "--numeric-owner"], log)
            step.run(Workspace(root, scratch, log))
            name = f"{recipe.short_name}-{step.label}-{key}"
            filler = oci.add_tree(root, step.outputs)
            layer = self._cached_layer(name, step.label, [], filler)
        finally:
            remove_tree(work)
        parts.append(f"layer {step.label} {time.monotonic() - started:.0f}s")
        return layer

    def _cached_layer(
        self, name: str, label: str, parts: list[str], fill: Callable[[tarfile.TarFile], None]
    ) -> oci.Layer:
        cached = self._load_layer(name, label)
        if cached is not None:
            return cached
        started = time.monotonic()
        layer = oci.write_layer(self.layers / f"{name}.tar.gz", fill, label)
        (self.layers / f"{name}.json").write_text(json.dumps(layer.to_json()))
        parts.append(f"gzip {label.split(':')[0]} {time.monotonic() - started:.0f}s")
        return layer

    def _load_layer(self, name: str, label: str) -> oci.Layer | None:
        meta, blob = self.layers / f"{name}.json", self.layers / f"{name}.tar.gz"
        if not (meta.exists() and blob.exists()):
            return None
        blob.touch()  # recently used: pruning keeps it
        return oci.Layer.from_json(blob, json.loads(meta.read_text()), label)

    def _forget_older(self, recipe: Recipe, keep: Path) -> None:
        # Only this tag's: an image's other tags (older engine versions) are other images.
        prefix = f"{recipe.short_name}-{recipe.tag}-"
        for old in self.archives.glob(f"{prefix}*.tar"):
            if old != keep and old.name.count("-") == prefix.count("-"):
                old.unlink()

    def prune_layers(self, older_than: float) -> None:
        """Delete layers no archive uses and nobody used since `older_than` (a time)."""
        used = set()
        for archive in self.archives.glob("*.tar"):
            used |= {layer["digest"] for layer in oci.read_archive(archive).manifest["layers"]}
        for meta in self.layers.glob("*.json"):
            blob = meta.with_name(meta.name.removesuffix(".json") + ".tar.gz")
            digest = json.loads(meta.read_text())["digest"]
            stamp = blob.stat().st_mtime if blob.exists() else 0.0
            if digest not in used and stamp < older_than:
                blob.unlink(missing_ok=True)
                meta.unlink()


def _base_filler(rootfs: Path) -> Callable[[tarfile.TarFile], None]:
    # The runtime makes /dev; device nodes in a layer only get in its way.
    def keep(member: tarfile.TarInfo) -> bool:
        name = member.name.removeprefix("./")
        return not (name.startswith("dev/") and name != "dev/")

    return oci.copy_tar(rootfs, keep)


def remove_tree(path: Path) -> None:
    """rm -rf `path`, refusing if anything is mounted below it (a crashed chroot)."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as mounts:
        busy = [line.split()[4] for line in mounts if line.split()[4].startswith(prefix)]
    if busy:
        raise RuntimeError(f"refusing to delete {path}: mounts below it: {busy[:3]}")
    shutil.rmtree(path)
