"""The floor under ``trickle.py``'s CPU per message: what the client libraries alone cost, one message at a time.

``trickle.py`` prints the CPU per message of Interlink's consumer beside a hand-written loop with the same
clients. This script takes that hand-written loop apart, to show what bounds both: at the same ``--rate``, it
runs in this process, one after the other, and prints the CPU per message of this process for each:

- ``loop``: asyncio waking once per message and doing nothing else (the event loop's own floor);
- ``database``: the raw consumer's transaction alone (asyncpg: inbox mark and shipment row, one commit), no
  broker;
- ``broker``: the raw consumer's fetch of one message and its ack (nats-py / redis-py / aio-pika), no
  database; the messages come from ``trickle.py``'s raw producer in a process of its own;
- ``both``: fetch, transaction, ack: the raw consumer of ``trickle.py``.

Every message published must be received (and, with the database, written once), or the script exits 1.

    .venv/bin/python bench/trickle_floor.py                        # nats redis, 1,000 messages at 100/s
    .venv/bin/python bench/trickle_floor.py --broker rabbitmq --events 500 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import trickle  # noqa: E402
import trickle_raw  # noqa: E402
from brokers import BROKERS, _drop_schemas, _fresh  # noqa: E402
from brokers_split import Child  # noqa: E402

MODES = ("loop", "database", "broker", "both")
Write = Callable[[str, bytes], Awaitable[None]]


async def _database_step(schema: str) -> tuple[Write, Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    """One transaction as the raw consumer writes it; a count of the rows written; a close."""
    conn = await trickle_raw._raw_pg(f"{schema}_floor")
    effect = trickle_raw.raw_effect(conn, schema)

    async def write(mid: str, body: bytes) -> None:
        await effect(mid, body)

    async def count() -> int:
        return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".shipments'))

    return write, count, conn.close


async def _measure(mode: str, broker: str, events: int, rate: float) -> float:
    """CPU seconds of this process per message for one mode; raises RuntimeError if a message is missing."""
    ns = _fresh()
    schema = f"{ns}_raw"
    await trickle_raw._raw_tables(schema)
    write, count, close_db = await _database_step(schema)
    fetch = ack = close_broker = None
    producer: Child | None = None
    try:
        if mode in ("broker", "both"):
            fetch, ack, close_broker = await trickle_raw._raw_fetcher(broker, ns)
            cfg = {"kind": broker, "ns": ns, "events": events, "rate": rate, "schema": schema, "loop": "asyncio"}
            producer = Child("raw-producer", cfg, trickle.__file__)
            producer.read()
            producer.send("go")
        received, started, cpu = 0, time.perf_counter(), time.process_time()
        deadline = started + events / rate + 60
        while received < events and time.perf_counter() < deadline:
            if fetch is None:  # loop, database: one message per tick, made up here
                await trickle_raw._tick(started, received, rate)
                if mode == "database":
                    body = json.dumps({"order_id": f"o{received}", "customer": "c", "amount": 1})
                    await write(f"m{received}", body.encode())
                received += 1
                continue
            got = await fetch()
            if got is not None:
                if mode == "both":
                    await write(got[0], got[1])
                await ack(got[2])  # type: ignore[misc]
                received += 1
        cpu = time.process_time() - cpu
        if producer is not None:
            producer.read()
        written = await count()
        expected = events if mode in ("database", "both") else 0
        if received != events or written != expected:
            raise RuntimeError(f"{mode} on {broker}: {received} of {events} received, {written} rows of {expected}")
        return cpu / events * 1e6
    finally:
        if producer is not None:
            producer.finish()
        if close_broker is not None:
            await close_broker()
        await close_db()
        if fetch is not None:
            await trickle._cleanup(broker, [schema], ns, {"subscriptions": set(), "channels": set()})
        else:
            await _drop_schemas([schema])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--broker", action="append", choices=sorted(BROKERS), help="repeatable (default: nats redis)")
    parser.add_argument("--events", type=int, default=1000, help="messages per run (default 1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds (default 3)")
    args = parser.parse_args(argv)
    brokers = list(dict.fromkeys(args.broker or ["nats", "redis"]))
    figures: dict[tuple[str, str], list[float]] = {}
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, load average {os.getloadavg()[0]:.2f}")
    try:
        for round_ in range(args.repeat):
            for broker in brokers:
                modes = MODES if round_ % 2 == 0 else MODES[::-1]
                for mode in modes:
                    if mode in ("loop", "database") and broker != brokers[0]:
                        continue  # no broker in them: once per round is enough
                    us = asyncio.run(_measure(mode, broker, args.events, args.rate))
                    figures.setdefault((broker if mode in ("broker", "both") else "-", mode), []).append(us)
                    print(f"run {round_ + 1}/{args.repeat} {broker:8} {mode:9} {us:8,.0f} us/msg", flush=True)
    except RuntimeError as exc:
        print(f"\nVERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{args.events:,} messages at {args.rate:g}/s, medians of {args.repeat} alternated round(s); "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"
    )
    print(f"{'broker':10}{'what':10}{'CPU us/msg':>12}\n" + "-" * 32)
    for (broker, mode), runs in sorted(figures.items(), key=lambda kv: (kv[0][0] != "-", MODES.index(kv[0][1]))):
        print(f"{broker:10}{mode:10}{statistics.median(runs):>12,.0f}")
    print("CPU of this process per message, idle waits included (loop: asyncio waking once per message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
