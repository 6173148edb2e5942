"""The OCI archive writer (devtools/oci.py), read back byte by byte: what containerd's
`ctr images import` reads is a valid image layout whose every blob is stored under its
own digest, and whose index names the image the way containerd stores it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from devtools import oci

CONFIG = oci.ImageConfig(
    user="10001:10001",
    env=("PATH=/opt/venv/bin:/usr/bin", "PYTHONPATH=/app"),
    entrypoint=("docker-entrypoint.sh",),
    cmd=("python", "-m", "services.gateway"),
    working_dir="/app",
    exposed_ports=("8080/tcp", "8081/tcp"),
    labels={"org.opencontainers.image.title": "storefleet"},
    stop_signal="SIGINT",
)


def _tree(root: Path) -> Path:
    (root / "app" / "bin").mkdir(parents=True)
    (root / "app" / "bin" / "serve").write_text("#!/bin/sh\necho hello\n")
    (root / "app" / "bin" / "serve").chmod(0o755)
    os.link(root / "app" / "bin" / "serve", root / "app" / "bin" / "serve-again")
    (root / "app" / "current").symlink_to("bin")
    (root / "app" / "static").mkdir()
    (root / "app" / "static").chmod(0o700)
    return root


def _archive(tmp_path: Path, reference: str = "storefleet/platform:dev") -> Path:
    root = _tree(tmp_path / "root")
    layer = oci.write_layer(tmp_path / "layer.tar.gz", oci.add_tree(root, ["/app"]), "app")
    archive = tmp_path / "image.tar"
    oci.write_archive(archive, reference, CONFIG, [layer], "2026-01-01T00:00:00Z")
    return archive


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _blob(members: dict[str, bytes], descriptor: dict[str, Any]) -> bytes:
    return members["blobs/sha256/" + descriptor["digest"].removeprefix("sha256:")]


def test_the_archive_is_an_image_layout_with_one_manifest_for_linux_amd64(tmp_path: Path) -> None:
    members = _members(_archive(tmp_path))

    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(members["index.json"])
    assert index["schemaVersion"] == 2
    (entry,) = index["manifests"]
    assert entry["mediaType"] == oci.MEDIA_MANIFEST
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}


def test_the_index_names_the_image_as_containerd_stores_it(tmp_path: Path) -> None:
    index = json.loads(_members(_archive(tmp_path))["index.json"])

    annotations = index["manifests"][0]["annotations"]
    assert annotations[oci.ANNOTATION_NAME] == "docker.io/storefleet/platform:dev"
    assert annotations[oci.ANNOTATION_REF] == "dev"


def test_every_blob_is_stored_under_the_digest_and_size_its_descriptor_gives(
    tmp_path: Path,
) -> None:
    members = _members(_archive(tmp_path))
    entry = json.loads(members["index.json"])["manifests"][0]
    manifest = json.loads(_blob(members, entry))

    descriptors = [entry, manifest["config"], *manifest["layers"]]
    for descriptor in descriptors:
        data = _blob(members, descriptor)
        assert descriptor["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert descriptor["size"] == len(data)
    blobs = {name for name in members if name.startswith("blobs/")}
    assert len(blobs) == len(descriptors), "every blob is referenced, none is missing"


def test_a_layers_diff_id_is_the_digest_of_its_uncompressed_tar(tmp_path: Path) -> None:
    members = _members(_archive(tmp_path))
    manifest = json.loads(_blob(members, json.loads(members["index.json"])["manifests"][0]))
    image = json.loads(_blob(members, manifest["config"]))

    (layer,) = manifest["layers"]
    assert layer["mediaType"] == oci.MEDIA_LAYER
    plain = gzip.decompress(_blob(members, layer))
    assert image["rootfs"] == {
        "type": "layers",
        "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()],
    }


def test_the_configuration_says_what_the_image_runs(tmp_path: Path) -> None:
    image = oci.read_archive(_archive(tmp_path)).image

    assert image["os"] == "linux" and image["architecture"] == "amd64"
    assert image["config"] == {
        "User": "10001:10001",
        "Env": ["PATH=/opt/venv/bin:/usr/bin", "PYTHONPATH=/app"],
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["python", "-m", "services.gateway"],
        "WorkingDir": "/app",
        "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
        "Labels": {"org.opencontainers.image.title": "storefleet"},
        "StopSignal": "SIGINT",
    }


def test_an_image_with_no_command_has_none_in_its_configuration() -> None:
    assert oci.ImageConfig().to_json() == {"Env": [oci.DEFAULT_PATH]}


def test_a_layer_keeps_modes_symlinks_and_hard_links_with_numeric_owners(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")
    owner = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(root / "app" / "static", *owner)
    layer = oci.write_layer(tmp_path / "layer.tar.gz", oci.add_tree(root, ["/app/"]))

    with tarfile.open(layer.path) as tar:
        order = tar.getnames()
        members = {m.name: m for m in tar.getmembers()}
    assert order[0] == "app", "parents come before what they hold"
    assert members["app/bin/serve"].mode & 0o777 == 0o755
    assert members["app/bin/serve-again"].islnk()
    assert members["app/bin/serve-again"].linkname == "app/bin/serve"
    assert members["app/current"].issym() and members["app/current"].linkname == "bin"
    static = members["app/static"]
    assert (static.mode & 0o777, static.uid, static.gid) == (0o700, *owner)
    assert static.uname == static.gname == ""


def test_a_layer_holds_the_parent_directories_of_a_deep_path(tmp_path: Path) -> None:
    (tmp_path / "usr" / "local" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "local" / "bin" / "helm").write_bytes(b"\x7fELF")
    layer = oci.write_layer(tmp_path / "l.tar.gz", oci.add_tree(tmp_path, ["/usr/local/bin/helm"]))

    with tarfile.open(layer.path) as tar:
        assert tar.getnames() == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/helm"]


def test_a_path_below_a_symlink_is_refused_rather_than_replacing_the_link(tmp_path: Path) -> None:
    (tmp_path / "run" / "nats").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "run").symlink_to("../run")

    with pytest.raises(ValueError, match="/var/run is a symlink"):
        oci.write_layer(tmp_path / "l.tar.gz", oci.add_tree(tmp_path, ["/var/run/nats"]))


def test_a_missing_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="/opt/venv"):
        oci.write_layer(tmp_path / "l.tar.gz", oci.add_tree(tmp_path, ["/opt/venv"]))


def test_copying_a_tar_keeps_only_what_the_filter_accepts(tmp_path: Path) -> None:
    source = tmp_path / "rootfs.tar"
    with tarfile.open(source, "w") as tar:
        for name in ("./etc/hostname", "./dev/null"):
            info = tarfile.TarInfo(name)
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))

    keep = oci.copy_tar(source, lambda member: not member.name.startswith("./dev/"))
    layer = oci.write_layer(tmp_path / "l.tar.gz", keep)

    with tarfile.open(layer.path) as tar:
        assert tar.getnames() == ["./etc/hostname"]
        assert tar.extractfile("./etc/hostname").read() == b"hello"  # type: ignore[union-attr]


def test_a_layer_written_twice_from_the_same_tree_has_the_same_digests(tmp_path: Path) -> None:
    root = _tree(tmp_path / "root")

    first = oci.write_layer(tmp_path / "a.tar.gz", oci.add_tree(root, ["/app"]))
    second = oci.write_layer(tmp_path / "b.tar.gz", oci.add_tree(root, ["/app"]))

    assert (first.digest, first.diff_id, first.size) == (second.digest, second.diff_id, second.size)


@pytest.mark.parametrize(
    ("reference", "normalized"),
    [
        ("storefleet/pause:dev", "docker.io/storefleet/pause:dev"),
        ("storefleet/platform", "docker.io/storefleet/platform:latest"),
        ("redis:7", "docker.io/library/redis:7"),
        ("docker.io/library/postgres:17", "docker.io/library/postgres:17"),
        ("localhost:5000/team/app:1.2", "localhost:5000/team/app:1.2"),
        ("registry.example/app", "registry.example/app:latest"),
    ],
)
def test_references_are_normalized_as_docker_and_containerd_do(
    reference: str, normalized: str
) -> None:
    assert oci.normalize_reference(reference) == normalized
