"""A Medusa store's backup Job end to end (issue 14): its Postgres database and upload
directory dumped in parts through pre-signed URLs, read back from the bucket, restored
over lost data, and verified in a throwaway server; and the ways such a Job must fail."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.objectstore import ObjectStore
from tests.backup_tool.conftest import (
    Backup,
    BackupJob,
    PostgresStore,
    create_postgres_store,
)
from tests.fixtures.postgres import PostgresServer

MiB = 1024 * 1024
ORDERS = [("order_1", 1250), ("order_2", 990), ("order_3", 4200)]


async def medusa_store(server: PostgresServer, name: str | None = None) -> PostgresStore:
    store = await create_postgres_store(server, name or f"t_{uuid.uuid4().hex[:12]}")
    values = ", ".join(f"('{id_}', {total})" for id_, total in ORDERS)
    await store.execute(
        'CREATE TABLE "order" (id text PRIMARY KEY, total integer NOT NULL);'
        f'INSERT INTO "order" VALUES {values};'
    )
    return store


def upload_directory(job: BackupJob, big: int = 0) -> dict[str, bytes]:
    """Files as a store's uploads hold them, and a link; `big` bytes of noise too."""
    files = {"logo.png": b"\x89PNG logo", "products/shirt.jpg": os.urandom(2048)}
    if big:
        files["products/video.mp4"] = os.urandom(big)
    for name, body in files.items():
        (job.files / name).parent.mkdir(parents=True, exist_ok=True)
        (job.files / name).write_bytes(body)
    (job.files / "latest.png").symlink_to("logo.png")
    job.give(job.files)
    return files


def plan(job: BackupJob, store: PostgresStore, objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "engine": "medusa",
        "database": store.plan_database(job.password_file(store.password)),
        "volumes": {"files": str(job.files)},
        "objects": objects,
    }


async def orders(store: PostgresStore) -> list[tuple[str, int]]:
    rows = await store.fetch('SELECT id, total FROM "order" ORDER BY id')
    return [(row["id"], row["total"]) for row in rows]


def contents(directory: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[name] = path.read_bytes()
    return found


async def test_a_medusa_store_dumped_in_parts_comes_back_after_its_data_is_lost(
    postgres_server: PostgresServer,
    object_store: ObjectStore,
    backup_job: BackupJob,
    pg_tools: Path,
):
    store = await medusa_store(postgres_server)
    upload_directory(backup_job, big=11 * MiB)
    before = contents(backup_job.files)
    backup = Backup(object_store, ("database", "files"))

    dumped = await backup_job.run("dump", plan(backup_job, store, await backup.dump_objects()))

    assert dumped.code == 0, dumped.result
    read_back = await backup.complete()
    reported = dumped.result["objects"]
    for name in ("database", "files"):
        assert (read_back[name].size, read_back[name].sha256) == (
            reported[name]["size"],
            reported[name]["sha256"],
        )
    assert (reported["database"]["parts"], reported["files"]["parts"]) == (1, 3)
    assert "sfbackup dump: database" in dumped.stdout

    await store.execute('DROP TABLE "order"')
    for path in backup_job.files.iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    (backup_job.files / "stray.txt").write_text("written after the backup")
    restore_plan = plan(backup_job, store, await backup.restore_objects(reported))

    restored = await backup_job.run("restore", restore_plan)

    assert (restored.code, restored.result) == (0, {"restored": ["database", "files"]})
    assert await orders(store) == ORDERS
    assert contents(backup_job.files) == before

    verified = await backup_job.run("verify", restore_plan)

    assert (verified.code, verified.result) == (0, {"orders": 3, "check": "order_count"})


async def test_a_tampered_backup_is_refused_and_changes_nothing(
    postgres_server: PostgresServer,
    object_store: ObjectStore,
    backup_job: BackupJob,
    pg_tools: Path,
):
    store = await medusa_store(postgres_server)
    upload_directory(backup_job)
    backup = Backup(object_store, ("database", "files"))
    dumped = await backup_job.run("dump", plan(backup_job, store, await backup.dump_objects()))
    await backup.complete()
    objects = await backup.restore_objects(dumped.result["objects"])
    await store.execute("INSERT INTO \"order\" VALUES ('order_4', 10)")
    (backup_job.files / "new.txt").write_text("kept")
    before = contents(backup_job.files)
    tampered = await backup.put("files", b"\0" * objects["files"]["size"])
    objects["files"]["get_url"] = tampered["get_url"]

    restored = await backup_job.run("restore", plan(backup_job, store, objects))

    assert restored.code == 1
    assert restored.error == "files is not the backup: its SHA-256 differs"
    assert len(await orders(store)) == 4
    assert contents(backup_job.files) == before


async def test_a_backup_larger_than_its_part_urls_fails_saying_so(
    postgres_server: PostgresServer,
    object_store: ObjectStore,
    backup_job: BackupJob,
    pg_tools: Path,
):
    store = await medusa_store(postgres_server)
    upload_directory(backup_job, big=11 * MiB)
    backup = Backup(object_store, ("database", "files"))

    dumped = await backup_job.run(
        "dump", plan(backup_job, store, await backup.dump_objects(parts=2))
    )

    assert dumped.code == 1
    assert dumped.error == f"files: backup larger than 2 parts of {5 * MiB} bytes"


async def test_an_expired_url_fails_with_a_reason_that_holds_no_url(
    postgres_server: PostgresServer,
    object_store: ObjectStore,
    backup_job: BackupJob,
    pg_tools: Path,
):
    store = await medusa_store(postgres_server)
    backup = Backup(object_store, ("database", "files"))
    objects = await backup.dump_objects(expires=timedelta(seconds=1))
    await asyncio.sleep(2.5)

    dumped = await backup_job.run("dump", plan(backup_job, store, objects))

    assert dumped.code == 1
    assert dumped.error.startswith("uploading part 1 of database: the object storage answered 403")
    for shown in (dumped.error, dumped.stdout, dumped.stderr):
        assert "http" not in shown and "X-Amz" not in shown and "Signature" not in shown
        assert backup.store_id not in shown and store.password not in shown


async def test_a_hostile_database_name_is_only_ever_a_name(
    postgres_server: PostgresServer,
    object_store: ObjectStore,
    backup_job: BackupJob,
    pg_tools: Path,
):
    marker = Path(f"/tmp/sfbk-{uuid.uuid4().hex[:8]}")
    name = f"-x'\"$(touch {marker})`id`;\\ host=evil"
    store = await medusa_store(postgres_server, name)
    backup = Backup(object_store, ("database", "files"))
    dumped = await backup_job.run("dump", plan(backup_job, store, await backup.dump_objects()))
    assert dumped.code == 0, dumped.result
    await backup.complete()
    await store.execute('DELETE FROM "order"')
    restore_plan = plan(backup_job, store, await backup.restore_objects(dumped.result["objects"]))

    restored = await backup_job.run("restore", restore_plan)
    verified = await backup_job.run("verify", restore_plan)

    assert (restored.code, verified.result) == (0, {"orders": 3, "check": "order_count"})
    assert await orders(store) == ORDERS
    assert not await asyncio.to_thread(marker.exists)
