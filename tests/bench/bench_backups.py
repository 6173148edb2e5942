"""Backups on the real node benchmark: `python -m tests.bench.bench_backups [--orders N ...]`.

Starts the control plane with the real worker node, installs the platform chart with
values-local.yaml (backups into the bundled object store, as tests/real does), creates a
Medusa store and places one order through its Store API. Then, for each order count
(default 1,000 and 10,000), it brings the store's order table to that many rows (copies
of the placed order's row, with fresh ids and display numbers: the dump grows as a
store's would, without an hour of checkouts) and measures, through the gateway:

- backup: from `POST /backups` to `backup.completed` (dump, upload, read-back, manifest),
  and its size; verification: from `backup.completed` to `backup.verified` (a throwaway
  restore counting the orders, which must equal N);
- restore in place: from `POST /restore` to `restore.completed` (pre-restore backup, web
  stopped, restore Job, setup again, web started).

The store is deleted at the end. Prints the figures and writes them to
`.run/bench/backups.json`. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from devtools.images import build_images
from devtools.node import start_real_cluster, stop_real_cluster
from tests.medusa.store_api import StoreApi, place_order
from tests.node.conftest import Kubectl
from tests.real import platform
from tests.real.platform import Gateway

OUT = Path(__file__).resolve().parents[2] / ".run" / "bench" / "backups.json"
WITHIN = 3600.0

# Copies of one order row up to `n` rows: every column as it is, but a fresh id and the
# next display number.
GROW_ORDERS = """
DO $$
DECLARE
    columns text;
    copied text;
    missing int := {n} - (SELECT count(*) FROM "order");
BEGIN
    IF missing <= 0 THEN RETURN; END IF;
    SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position),
           string_agg(CASE column_name
                        WHEN 'id' THEN 'id || ''_'' || g || ''_'' || {n}'
                        WHEN 'display_id'
                          THEN 'nextval(pg_get_serial_sequence(''"order"'', ''display_id''))'
                        ELSE quote_ident(column_name) END, ', ' ORDER BY ordinal_position)
      INTO columns, copied
      FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = 'order';
    EXECUTE format('INSERT INTO "order" (%s) SELECT %s FROM (SELECT * FROM "order" LIMIT 1) o,'
                   ' generate_series(1, %s) g', columns, copied, missing);
END $$;
"""


def psql(kubectl: Kubectl, namespace: str, sql: str) -> str:
    pods = kubectl.get("pods", "-n", namespace, "-l", "app.kubernetes.io/component=database")
    pod = pods["items"][0]["metadata"]["name"]
    done = kubectl.exec(namespace, pod, "psql", "-U", "medusa", "-d", "medusa", "-tAc", sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def _timed(owner: Gateway, store_id: str, path: str, body: Any, *events: str
                 ) -> dict[str, float]:  # fmt: skip
    """Seconds from the POST to each of `events` on the live stream."""
    async with owner.watch() as watch:
        started = time.monotonic()
        await owner.call("POST", path, body)
        seen: dict[str, float] = {}
        for event in events:
            frame = await watch.outcome(store_id, within=WITHIN, events=(event, *_FAILURES))
            assert frame.event == event, frame.data
            seen[event] = time.monotonic() - started
    return seen


_FAILURES = ("backup.failed", "restore.failed")


async def _one_size(owner: Gateway, kubectl: Kubectl, store: dict[str, Any], n: int
                    ) -> dict[str, Any]:  # fmt: skip
    psql(kubectl, store["namespace"], GROW_ORDERS.format(n=n))
    assert int(psql(kubectl, store["namespace"], 'SELECT count(*) FROM "order"')) == n
    backup = await _timed(owner, store["id"], f"/stores/{store['id']}/backups", None,
                          "backup.completed", "backup.verified")  # fmt: skip
    rows = (await owner.call("GET", f"/stores/{store['id']}/backups"))["items"]
    newest = rows[0]
    assert newest["orders"] == n, newest
    restore = await _timed(owner, store["id"], f"/stores/{store['id']}/restore",
                           {"backup_id": newest["id"]}, "restore.completed")  # fmt: skip
    return {
        "orders": n,
        "backup_s": round(backup["backup.completed"], 1),
        "verification_s": round(backup["backup.verified"] - backup["backup.completed"], 1),
        "backup_size_mib": round(newest["size_bytes"] / 2**20, 2),
        "restore_s": round(restore["restore.completed"], 1),
    }


async def measure(ingress: str, kubectl: Kubectl, password: str, sizes: list[int]
                  ) -> dict[str, Any]:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        owner = await Gateway.sign_in(http, ingress, "bench", password)
        async with owner.watch() as watch:
            store = await owner.create_store("Bench Backups")
            outcome = await watch.outcome(store["id"], within=900)
        assert outcome.event == "ready", outcome.data
        await platform.served(ingress, store["slug"])
        async with platform.shop(store["slug"]) as shop:
            await place_order(StoreApi(shop, ingress), "bench@customer.example")
        runs = [await _one_size(owner, kubectl, store, n) for n in sizes]
        await platform.delete_stores(owner, kubectl, [store])
    return {"engine": "medusa", "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_backups")
    parser.add_argument("--orders", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    build_images()
    with tempfile.TemporaryDirectory(prefix="bench-backups-") as workdir:
        real = start_real_cluster(Path(workdir))
        try:
            kubectl = Kubectl(real.kubeconfig)
            platform.install(real.kubeconfig, kubectl)
            password = platform.add_user(kubectl, "bench", "--max-stores", "4")
            figures = asyncio.run(measure(real.ingress_url, kubectl, password, args.orders))
        finally:
            stop_real_cluster()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
