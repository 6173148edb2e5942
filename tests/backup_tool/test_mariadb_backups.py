"""A WooCommerce store's backup Job end to end (issue 14): its MariaDB database dumped
through pre-signed URLs, restored over lost data and verified in a throwaway mariadbd,
counting orders where WooCommerce keeps them (HPOS's wp_wc_orders, or posts)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools.mariadb import LocalMariaDB
from shared.objectstore import ObjectStore
from tests.backup_tool.conftest import Backup, BackupJob
from tests.fixtures.mariadb import MariaDBDatabase, create_database

# Enough of WordPress and WooCommerce for the order count: two orders and a refund.
WOOCOMMERCE = """
CREATE TABLE wp_options (option_name varchar(191) PRIMARY KEY, option_value longtext);
CREATE TABLE wp_posts (ID bigint PRIMARY KEY, post_type varchar(20), post_title text);
CREATE TABLE wp_wc_orders (id bigint PRIMARY KEY, type varchar(20), total_amount decimal(26,8));
INSERT INTO wp_options VALUES ('woocommerce_custom_orders_table_enabled', '{hpos}');
INSERT INTO wp_posts VALUES (1, 'page', 'Shop'), (2, 'shop_order', 'legacy order');
INSERT INTO wp_wc_orders VALUES (10, 'shop_order', 12.50), (11, 'shop_order', 9.90),
  (12, 'shop_order_refund', -9.90);
CREATE TRIGGER wp_posts_title BEFORE INSERT ON wp_posts
  FOR EACH ROW SET NEW.post_title = TRIM(NEW.post_title);
"""


def woocommerce_store(server: LocalMariaDB, name: str = "", hpos: str = "yes") -> MariaDBDatabase:
    store = create_database(server, name or f"t_{uuid.uuid4().hex[:12]}")
    store.sql(WOOCOMMERCE.format(hpos=hpos))
    return store


def plan(job: BackupJob, store: MariaDBDatabase, objects: dict[str, Any]) -> dict[str, Any]:
    database = {
        "kind": "mariadb",
        "host": "127.0.0.1",
        "port": store.server.port,
        "name": store.name,
        "user": store.user,
        "password_file": job.password_file(store.password),
    }
    return {"engine": "woocommerce", "database": database, "volumes": {}, "objects": objects}


async def back_up(job: BackupJob, store: MariaDBDatabase, backup: Backup) -> dict[str, Any]:
    dumped = await job.run("dump", plan(job, store, await backup.dump_objects()))
    assert dumped.code == 0, dumped.result
    read_back = await backup.complete()
    reported = dumped.result["objects"]["database"]
    assert (read_back["database"].size, read_back["database"].sha256) == (
        reported["size"],
        reported["sha256"],
    )
    return plan(job, store, await backup.restore_objects(dumped.result["objects"]))


@pytest.mark.parametrize(("hpos", "orders"), [("yes", 2), ("no", 1)], ids=["hpos", "posts"])
async def test_a_woocommerce_store_comes_back_and_verifies_with_its_order_count(
    mariadb_server: LocalMariaDB,
    object_store: ObjectStore,
    backup_job: BackupJob,
    hpos: str,
    orders: int,
):
    store = woocommerce_store(mariadb_server, hpos=hpos)
    restore_plan = await back_up(backup_job, store, Backup(object_store, ("database",)))
    store.sql("DROP TABLE wp_wc_orders; DELETE FROM wp_posts;")

    restored = await backup_job.run("restore", restore_plan)
    verified = await backup_job.run("verify", restore_plan)

    assert (restored.code, restored.result) == (0, {"restored": ["database"]})
    assert store.sql(
        "SELECT count(*) FROM wp_wc_orders; SELECT count(*) FROM wp_posts"
    ).split() == [
        "3",
        "2",
    ]
    assert (verified.code, verified.result) == (0, {"orders": orders, "check": "order_count"})


async def test_a_hostile_mariadb_name_is_only_ever_a_name(
    mariadb_server: LocalMariaDB, object_store: ObjectStore, backup_job: BackupJob
):
    marker = Path(f"/tmp/sfbk-{uuid.uuid4().hex[:8]}")
    store = woocommerce_store(mariadb_server, f"--x'\"`$(touch {marker})`;--x")
    restore_plan = await back_up(backup_job, store, Backup(object_store, ("database",)))
    store.sql("DELETE FROM wp_wc_orders")

    restored = await backup_job.run("restore", restore_plan)
    verified = await backup_job.run("verify", restore_plan)

    assert (restored.code, verified.result) == (0, {"orders": 2, "check": "order_count"})
    assert store.sql("SELECT count(*) FROM wp_wc_orders").split() == ["3"]
    assert not await asyncio.to_thread(marker.exists)


async def test_a_wrong_password_fails_the_dump_with_the_servers_reason(
    mariadb_server: LocalMariaDB, object_store: ObjectStore, backup_job: BackupJob
):
    store = woocommerce_store(mariadb_server)
    wrong = MariaDBDatabase(store.server, store.name, store.user, "not-the-password")

    dumped = await backup_job.run(
        "dump", plan(backup_job, wrong, await Backup(object_store, ("database",)).dump_objects())
    )

    assert dumped.code == 1
    assert dumped.error.startswith("dumping database failed: ")
    assert "Access denied" in dumped.error and "not-the-password" not in dumped.error
