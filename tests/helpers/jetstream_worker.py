"""A worker process for tests/test_jetstream.py: runs a `WorkerPool` whose handler records
`started <id>` (the body is a message id), sleeps, records `done <id>` and acks.

SIGTERM calls `pool.stop()`, as a service's `__main__` does, so the test can kill it mid-work
and check that nothing is lost. Run with the repository root on PYTHONPATH:

    python tests/helpers/jetstream_worker.py URL STREAM DURABLE RECORD_FILE
        [--work SECONDS] [--concurrency N] [--grace SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from shared.jetstream import connect
from shared.outcome import Outcome
from shared.worker import Delivery, WorkerPool


def _append(record: Path, line: str) -> None:
    with record.open("a") as out:
        out.write(line + "\n")


async def main(args: argparse.Namespace) -> None:
    record = Path(args.record)

    async def handle(delivery: Delivery) -> Outcome:
        message_id = delivery.data.decode()
        _append(record, f"started {message_id}")
        await asyncio.sleep(args.work)
        _append(record, f"done {message_id}")
        return Outcome.ack()

    nc = await connect(args.url, name="jetstream-test-worker")
    try:
        pool = WorkerPool(
            nc.jetstream(),
            args.stream,
            args.durable,
            handle,
            concurrency=args.concurrency,
            grace=args.grace,
            fetch_timeout=0.5,
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, pool.stop)
        await pool.run()
    finally:
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("stream")
    parser.add_argument("durable")
    parser.add_argument("record")
    parser.add_argument("--work", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--grace", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
