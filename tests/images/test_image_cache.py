"""The image build cache (devtools/image_build.py), on images with no Debian base: a
build redoes only what its inputs changed, and says so."""

from __future__ import annotations

import tarfile
from pathlib import Path

from devtools import oci
from devtools.image_build import ImageBuilder, Recipe, Step, Workspace

CONFIG = oci.ImageConfig(entrypoint=("/bin/hello",))


def _recipe(
    source: Path, greeting: Path, config: oci.ImageConfig = CONFIG, tag: str = "dev"
) -> Recipe:
    def copy_hello(ws: Workspace) -> None:
        (ws.root / "bin").mkdir()
        (ws.root / "bin" / "hello").write_bytes(source.read_bytes())

    def copy_greeting(ws: Workspace) -> None:
        (ws.root / "etc").mkdir()
        (ws.root / "etc" / "greeting").write_bytes(greeting.read_bytes())

    steps = (
        Step("hello", ("/bin/hello",), copy_hello, lambda: [source]),
        Step("greeting", ("/etc/greeting",), copy_greeting, lambda: [greeting]),
    )
    return Recipe("storefleet/hello", tag, config, None, steps)


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "src").mkdir()
    hello, greeting = tmp_path / "src" / "hello", tmp_path / "src" / "greeting"
    hello.write_text("#!/bin/sh\ncat /etc/greeting\n")
    greeting.write_text("hello\n")
    return hello, greeting


def _layer_files(archive: Path) -> list[str]:
    image = oci.read_archive(archive)
    names = []
    with tarfile.open(archive) as tar:
        for layer in image.manifest["layers"]:
            blob = tar.extractfile("blobs/sha256/" + layer["digest"].split(":")[1])
            with tarfile.open(fileobj=blob, mode="r:gz") as layer_tar:
                names.append(",".join(layer_tar.getnames()))
    return names


def test_a_first_build_makes_one_layer_per_step_and_names_the_image(tmp_path: Path) -> None:
    hello, greeting = _sources(tmp_path)

    built = ImageBuilder(tmp_path / "cache").build(_recipe(hello, greeting))

    assert built.fresh and built.archive.name.startswith("hello-dev-")
    assert _layer_files(built.archive) == ["bin,bin/hello", "etc,etc/greeting"]
    assert oci.read_archive(built.archive).name == "docker.io/storefleet/hello:dev"


def test_an_unchanged_image_is_reused_without_running_its_steps(tmp_path: Path) -> None:
    hello, greeting = _sources(tmp_path)
    builder = ImageBuilder(tmp_path / "cache")
    first = builder.build(_recipe(hello, greeting))
    hello.unlink()
    hello.write_text("#!/bin/sh\ncat /etc/greeting\n")  # same content, new file

    again = builder.build(_recipe(hello, greeting))

    assert not again.fresh and again.archive == first.archive


def test_a_changed_source_remakes_only_its_own_layer(tmp_path: Path) -> None:
    hello, greeting = _sources(tmp_path)
    builder = ImageBuilder(tmp_path / "cache")
    first = builder.build(_recipe(hello, greeting))
    before = oci.read_archive(first.archive).manifest["layers"]
    greeting.write_text("bonjour\n")

    second = builder.build(_recipe(hello, greeting))

    assert second.fresh and second.archive != first.archive
    assert [part.rsplit(" ", 1)[0] for part in second.parts] == ["layer greeting"]
    after = oci.read_archive(second.archive).manifest["layers"]
    assert before[0] == after[0] and before[1] != after[1]
    assert not first.archive.exists(), "the superseded archive is deleted"


def test_a_changed_configuration_reassembles_the_archive_from_cached_layers(
    tmp_path: Path,
) -> None:
    hello, greeting = _sources(tmp_path)
    builder = ImageBuilder(tmp_path / "cache")
    first = builder.build(_recipe(hello, greeting))
    layers = oci.read_archive(first.archive).manifest["layers"]

    changed = oci.ImageConfig(entrypoint=("/bin/hello",), user="65534:65534")
    second = builder.build(_recipe(hello, greeting, changed))

    assert second.fresh and second.parts == ()
    assert oci.read_archive(second.archive).config["User"] == "65534:65534"
    assert oci.read_archive(second.archive).manifest["layers"] == layers


def test_two_tags_of_one_image_are_two_images_kept_side_by_side(tmp_path: Path) -> None:
    hello, greeting = _sources(tmp_path)
    builder = ImageBuilder(tmp_path / "cache")
    current = builder.build(_recipe(hello, greeting, tag="1.0"))
    greeting.write_text("bonjour\n")

    older = builder.build(_recipe(hello, greeting, tag="0.9"))

    assert older.fresh and [part.rsplit(" ", 1)[0] for part in older.parts] == ["layer greeting"]
    assert current.archive.exists() and older.archive.exists()
    assert oci.read_archive(older.archive).name == "docker.io/storefleet/hello:0.9"


def test_layers_no_archive_uses_are_pruned_once_they_are_old(tmp_path: Path) -> None:
    hello, greeting = _sources(tmp_path)
    builder = ImageBuilder(tmp_path / "cache")
    builder.build(_recipe(hello, greeting))
    greeting.write_text("bonjour\n")
    builder.build(_recipe(hello, greeting))
    assert len(list(builder.layers.glob("*.tar.gz"))) == 3

    builder.prune_layers(older_than=0.0)
    assert len(list(builder.layers.glob("*.tar.gz"))) == 3, "recently used: kept"
    builder.prune_layers(older_than=float("inf"))

    assert len(list(builder.layers.glob("*.tar.gz"))) == 2
