"""A real process for fault tests: hosts fault_app's domains on SQLite files until its work is done.

    python runner.py both    WORKDIR N   # payment and receipt here: N commands, then wait for N receipts
    python runner.py produce WORKDIR N   # payment only: N commands, then wait until the outbox is empty
    python runner.py consume WORKDIR N   # receipt only: write WORKDIR/consumer.ready, wait for N receipts

``--poison K`` adds K poison payments (``X0``, ``X1``, ...) after the N good ones; the receipt side then
also waits until K dead letters are parked. Stores are ``WORKDIR/{domain}.db``, the broker is
``WORKDIR/bus.db``. Commands are retried as a client
would after a crash (``record_payment`` is idempotent per payment id). Crash points are armed through
``INTERLINK_CRASH_AT`` by the test. At the end the process stops its runtime gracefully, prints one JSON
line of what it did and exits 0; if the work is not done within ``--timeout`` it prints the counts and
exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
from pathlib import Path

from fault_app import payment, receipt, record_payment

from interlink.delivery.retry import RetryPolicy
from interlink.runtime import Runtime, Settings


def _count(path: Path, sql: str) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        value = conn.execute(sql).fetchone()[0]
    conn.close()
    return int(value)


def receipts(workdir: Path) -> int:
    """Receipts committed in the receipt domain's store."""
    return _count(workdir / "receipt.db", "SELECT count(*) FROM interlink_aggregates WHERE kind = 'Receipt'")


def outbox_pending(workdir: Path) -> int:
    """Rows the payment domain's relay has not yet had confirmed."""
    return _count(workdir / "payment.db", "SELECT count(*) FROM interlink_outbox")


def dead_letters(workdir: Path) -> int:
    """Messages parked in the receipt domain's dead-letter store."""
    return _count(workdir / "receipt.db", "SELECT count(*) FROM interlink_dead_letters")


def in_flight(workdir: Path) -> int:
    """Deliveries of the receipt subscription not yet acked: redeliveries still to come.

    Read from the SQLite broker's own table (see the module docstring of interlink.adapters.brokers.sqlite),
    so the process does not stop before a redelivered duplicate has reached the inbox check.
    """
    return _count(workdir / "bus.db", "SELECT count(*) FROM broker_deliveries WHERE subscription = 'receipt'")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["both", "produce", "consume"])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--chunk", type=int, default=50, help="commands run concurrently")
    parser.add_argument("--relay-batch", type=int, default=500)
    parser.add_argument("--consumer-batch", type=int, default=200)
    parser.add_argument("--visibility-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--poison", type=int, default=0, help="poison payments after the good ones")
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workdir: Path = args.workdir.absolute()
    domains = {"both": [payment, receipt], "produce": [payment], "consume": [receipt]}[args.mode]
    settings = Settings(
        store_url=f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=f"sqlite:///{workdir}/bus.db?visibility_timeout={args.visibility_timeout}",
        relay_batch=args.relay_batch,
        relay_poll_interval=0.1,
        consumer_batch=args.consumer_batch,
        fetch_wait=0.1,
        retry=RetryPolicy(max_attempts=args.max_attempts, base_delay=0.01, max_delay=0.05),
    )
    commands = [{"id": f"P{i:05d}", "amount": i} for i in range(args.n)]
    commands += [{"id": f"X{i}", "amount": 0, "poison": True} for i in range(args.poison)]
    started = time.perf_counter()
    async with Runtime(domains, settings) as rt:
        if args.mode == "consume":
            (workdir / "consumer.ready").write_text("subscribed\n")
        if args.mode != "consume":
            producer = rt["payment"]
            for first in range(0, len(commands), args.chunk):
                chunk = commands[first : first + args.chunk]
                await asyncio.gather(*(producer.execute(record_payment, c) for c in chunk))

        def done() -> bool:
            produced = args.mode == "consume" or outbox_pending(workdir) == 0
            consumed = args.mode == "produce" or (
                receipts(workdir) >= args.n and dead_letters(workdir) >= args.poison and in_flight(workdir) == 0
            )
            return produced and consumed

        deadline = time.monotonic() + args.timeout
        while not await asyncio.to_thread(done):
            if time.monotonic() > deadline:
                state = {
                    "error": "timed out",
                    "receipts": receipts(workdir),
                    "outbox_pending": outbox_pending(workdir),
                    "dead_letters": dead_letters(workdir),
                    "in_flight": in_flight(workdir),
                }
                print(json.dumps(state), flush=True)
                return 3
            await asyncio.sleep(0.05)
        consumers = [c for r in (rt[d.name] for d in domains) for c in r.consumers]
        report = {
            "seconds": round(time.perf_counter() - started, 3),
            "published": sum(rt[d.name].relay.published for d in domains),
            "processed": sum(c.stats.processed for c in consumers),
            "duplicates": sum(c.stats.duplicates for c in consumers),
            "retried": sum(c.stats.retried for c in consumers),
            "dead_lettered": sum(c.stats.dead_lettered for c in consumers),
        }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
