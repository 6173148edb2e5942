"""OCI image-layout archives, written with the standard library only.

An archive is a tar holding `oci-layout`, `index.json` and `blobs/sha256/*`: one manifest,
its config, and gzip layers. The index names the image twice, as `ctr images import` and
the OCI spec want it: `io.containerd.image.name` carries the full reference containerd
stores (`docker.io/storefleet/pause:dev`), `org.opencontainers.image.ref.name` the tag.

Used by devtools/images.py, which builds the layers from Debian root filesystems and
staged trees; read back by the image tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_NAME = "io.containerd.image.name"
ANNOTATION_REF = "org.opencontainers.image.ref.name"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CHUNK = 1 << 20


def normalize_reference(reference: str) -> str:
    """The full name containerd stores for `reference`, as Docker normalizes it:
    `storefleet/pause:dev` -> `docker.io/storefleet/pause:dev`, `redis` ->
    `docker.io/library/redis:latest`."""
    name, _, tag = reference.rpartition(":") if _has_tag(reference) else (reference, "", "")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}:{tag or 'latest'}"


def _has_tag(reference: str) -> bool:
    return ":" in reference.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ImageConfig:
    """What the image runs: the `config` object of the OCI image configuration."""

    user: str = ""
    env: tuple[str, ...] = (DEFAULT_PATH,)
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()  # "8080/tcp"
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""

    def to_json(self) -> dict[str, Any]:
        config: dict[str, Any] = {"Env": list(self.env)}
        optional: dict[str, Any] = {
            "User": self.user,
            "Entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "Cmd": None if self.cmd is None else list(self.cmd),
            "WorkingDir": self.working_dir,
            "ExposedPorts": {port: {} for port in self.exposed_ports},
            "Labels": dict(self.labels),
            "StopSignal": self.stop_signal,
        }
        config.update({key: value for key, value in optional.items() if value})
        return config


@dataclass(frozen=True)
class Layer:
    """A gzip layer blob on disk: `digest` names the compressed bytes, `diff_id` the tar."""

    path: Path
    digest: str
    diff_id: str
    size: int
    created_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size}

    @classmethod
    def from_json(cls, path: Path, data: Mapping[str, Any], created_by: str = "") -> Layer:
        return cls(path, data["digest"], data["diff_id"], int(data["size"]), created_by)


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to `target`."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.size += len(view)
        self.target.write(view)
        return len(view)


def write_layer(out: Path, fill: Callable[[tarfile.TarFile], None], created_by: str = "") -> Layer:
    """Write a gzip layer to `out` in one pass: `fill` adds the entries to the tar."""
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            plain = _Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                fill(tar)
    os.replace(tmp, out)
    return Layer(
        out,
        f"sha256:{compressed.sha.hexdigest()}",
        f"sha256:{plain.sha.hexdigest()}",
        compressed.size,
        created_by,
    )


def copy_tar(
    source: Path, keep: Callable[[tarfile.TarInfo], bool]
) -> Callable[[tarfile.TarFile], None]:
    """A layer filler that streams the members of the tar at `source` that `keep` accepts."""

    def fill(tar: tarfile.TarFile) -> None:
        with tarfile.open(source, mode="r|*") as src:
            for member in src:
                if keep(member):
                    data = src.extractfile(member) if member.isreg() else None
                    tar.addfile(member, data)

    return fill


def add_tree(root: Path, paths: Iterable[str]) -> Callable[[tarfile.TarFile], None]:
    """A layer filler that adds `paths` (absolute, inside `root`) with their parent
    directories, keeping numeric owners, modes, symlinks and hard links."""

    def fill(tar: tarfile.TarFile) -> None:
        seen: set[str] = set()
        for path in paths:
            name = path.strip("/")
            if not (root / name).exists():
                raise FileNotFoundError(f"/{name} is missing from the staged tree")
            for parent in _with_parents(name):
                if (root / parent).is_symlink():
                    # The layer would replace the base's symlink (say /var/run) with a
                    # directory; the step must write to the symlink's target instead.
                    raise ValueError(f"/{parent} is a symlink: stage /{name} elsewhere")
                if parent not in seen:
                    seen.add(parent)
                    _add(tar, root / parent, parent)
            for entry in _walk(root, name):
                _add(tar, root / entry, entry)

    return fill


def _with_parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _walk(root: Path, name: str) -> Iterator[str]:
    yield name
    if (root / name).is_dir() and not (root / name).is_symlink():
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames.sort()
            rel = Path(dirpath).relative_to(root).as_posix()
            for entry in sorted(filenames) + dirnames:
                yield f"{rel}/{entry}"


def _add(tar: tarfile.TarFile, path: Path, name: str) -> None:
    info = tar.gettarinfo(str(path), arcname=name)
    if info is None:  # a socket: nothing an image can carry
        return
    info.uname = info.gname = ""
    if info.isreg():
        with path.open("rb") as data:
            tar.addfile(info, data)
    else:
        tar.addfile(info)


def _blob_file(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}", path.stat().st_size


def write_archive(
    out: Path, reference: str, config: ImageConfig, layers: list[Layer], created: str
) -> str:
    """Write the OCI archive for one image at `out`; returns the manifest digest."""
    full = normalize_reference(reference)
    image = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": created, "created_by": layer.created_by or "storefleet devtools"}
            for layer in layers
        ],
    }
    config_blob = _json_bytes(image)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": _descriptor(MEDIA_CONFIG, config_blob),
        "layers": [
            {"mediaType": MEDIA_LAYER, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
    }
    manifest_blob = _json_bytes(manifest)
    entry = _descriptor(MEDIA_MANIFEST, manifest_blob)
    entry["annotations"] = {ANNOTATION_NAME: full, ANNOTATION_REF: full.rsplit(":", 1)[1]}
    entry["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    index["manifests"] = [entry]
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(tar, "index.json", _json_bytes(index))
        for directory in ("blobs", "blobs/sha256"):
            tar.addfile(_dir_info(directory))
        for blob in (config_blob, manifest_blob):
            _add_bytes(tar, _blob_name(_digest(blob)), blob)
        for layer in _unique(layers):
            tar.add(str(layer.path), arcname=_blob_name(layer.digest), filter=_root_owned)
    os.replace(tmp, out)
    return str(entry["digest"])


def _unique(layers: list[Layer]) -> list[Layer]:
    return list({layer.digest: layer for layer in layers}.values())


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


# -- reading an archive back (tests, `images import`) -----------------------------------


@dataclass(frozen=True)
class Archive:
    """What an archive says about its image."""

    name: str  # io.containerd.image.name
    ref: str  # org.opencontainers.image.ref.name
    manifest_digest: str
    manifest: dict[str, Any]
    image: dict[str, Any]  # the image configuration (its "config" key: what runs)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.image.get("config", {}))


def read_archive(path: Path) -> Archive:
    """Read the index, manifest and configuration of the single image in `path`."""
    with tarfile.open(path) as tar:
        index = json.loads(_member(tar, "index.json"))
        (entry,) = index["manifests"]
        manifest = json.loads(_member(tar, _blob_name(entry["digest"])))
        image = json.loads(_member(tar, _blob_name(manifest["config"]["digest"])))
    annotations = entry.get("annotations", {})
    return Archive(
        annotations.get(ANNOTATION_NAME, ""),
        annotations.get(ANNOTATION_REF, ""),
        entry["digest"],
        manifest,
        image,
    )


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    data = tar.extractfile(name)
    if data is None:
        raise ValueError(f"{name} is not a file in the archive")
    return data.read()
