"""A restore unpacks a volume's archive into a store's mount: an archive that would write
outside it (an absolute name, a `..`, a link out, a member written through a link) is
refused before anything changes, the database included."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest

from shared.objectstore import ObjectStore
from tests.backup_tool.conftest import Backup, BackupJob

Member = Callable[[tarfile.TarFile], None]


def a_file(name: str) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 6
        tar.addfile(info, io.BytesIO(b"pwned\n"))

    return add


def a_link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)

    return add


def archive(*members: Member) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        a_file("./fine.txt")(tar)
        for add in members:
            add(tar)
    return out.getvalue()


HOSTILE = {
    "a climbing name": archive(a_file("../escape")),
    "an absolute name": archive(a_file("/tmp/escape")),
    "a symlink out": archive(a_link("out", "../../etc")),
    "an absolute symlink": archive(a_link("passwd", "/etc/passwd")),
    "a hard link out": archive(a_link("shadow", "../outside", tarfile.LNKTYPE)),
    "a file through a link out": archive(a_link("up", ".."), a_file("up/escape")),
    "a link out through a link in": archive(a_link("here", "."), a_link("here/up", "..")),
    "a device": archive(a_link("null", "", tarfile.CHRTYPE)),
}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
async def test_an_archive_that_would_write_outside_its_directory_is_refused(
    object_store: ObjectStore, backup_job: BackupJob, hostile: bytes
):
    (backup_job.files / "kept.txt").write_text("the store's file")
    backup_job.give(backup_job.files)
    backup = Backup(object_store, ("database", "files"))
    objects = {
        "database": await backup.put("database", b"never applied"),
        "files": await backup.put("files", hostile),
    }
    plan = {
        "engine": "medusa",
        "database": {"kind": "postgres", "host": "127.0.0.1", "port": 1, "name": "x", "user": "x"},
        "volumes": {"files": str(backup_job.files)},
        "objects": objects,
    }

    restored = await backup_job.run("restore", plan)

    assert restored.code == 1
    assert restored.error.startswith("files: the archive is refused: member ")
    assert [p.name for p in backup_job.files.iterdir()] == ["kept.txt"]
    assert not (backup_job.base / "escape").exists()
