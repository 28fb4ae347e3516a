"""SqliteBroker across OS processes: one publisher and two competing consumers share one broker file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from contextlib import closing
from pathlib import Path

import pytest

from interlink.adapters.brokers.sqlite import SqliteBroker
from interlink.ports.broker import Subscription

MESSAGES = 10_000
DROP_EVERY = 97  # consumers "crash" before acking these on their first attempt, so they are redelivered

PUBLISHER = """
import asyncio, sys
from interlink.adapters.brokers.sqlite import SqliteBroker
from interlink.ports.broker import OutgoingMessage

async def main(url: str, count: int) -> None:
    messages = [OutgoingMessage(f"m{i:05d}", "loans.events", "LoanChanged", b"{}") for i in range(count)]
    async with SqliteBroker(url) as broker:
        for start in range(0, count, 250):
            await broker.publish(messages[start : start + 250])
        await broker.publish(messages[:500])  # a relay re-sending after a crash: deduped by id

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

CONSUMER = """
import asyncio, json, os, sys
from interlink.adapters.brokers.sqlite import SqliteBroker

async def main(url: str, out: str, stop: str, drop_every: int) -> None:
    seen, acked = [], []
    async with SqliteBroker(url) as broker:
        while not os.path.exists(stop):
            got = await broker.fetch("loans-sub", 100, wait=0.2)
            seen += [(d.message_id, d.attempt) for d in got]
            keep = [d for d in got if d.attempt > 1 or int(d.message_id[1:]) % drop_every]
            await broker.ack(keep)
            acked += [(d.message_id, d.attempt) for d in keep]
    with open(out, "w") as file:
        json.dump({"seen": seen, "acked": acked}, file)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def _pending(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        return int(raw.execute("SELECT count(*) FROM broker_deliveries").fetchone()[0])


def _finish(process: subprocess.Popen[str], timeout: float) -> None:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr


async def _subscribe(url: str) -> None:
    async with SqliteBroker(url) as broker:
        await broker.subscribe(Subscription("loans-sub", ("loans.events",), frozenset({"LoanChanged"})))


@pytest.mark.slow
def test_two_consumer_processes_share_a_subscription(tmp_path: Path) -> None:
    """Every message is acked, none delivered twice with one attempt number, despite three writers."""
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}?visibility_timeout=1&poll_interval=0.02"
    asyncio.run(_subscribe(url))
    stop = tmp_path / "stop"

    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", *args], stderr=subprocess.PIPE, text=True)

    outputs = [tmp_path / f"consumer{i}.json" for i in range(2)]
    consumers = [spawn(CONSUMER, url, str(out), str(stop), str(DROP_EVERY)) for out in outputs]
    try:
        _finish(spawn(PUBLISHER, url, str(MESSAGES)), timeout=60)
        deadline = time.monotonic() + 30
        while _pending(path) and time.monotonic() < deadline:
            time.sleep(0.1)  # the consumers work in other processes: nothing here to await
        stop.touch()
        for consumer in consumers:
            _finish(consumer, timeout=30)
    finally:
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.kill()
                consumer.communicate()

    records = [json.loads(out.read_text()) for out in outputs]
    seen = [(mid, attempt) for record in records for mid, attempt in record["seen"]]
    acked_by: defaultdict[str, set[int]] = defaultdict(set)
    for index, record in enumerate(records):
        for mid, _ in record["acked"]:
            acked_by[mid].add(index)
    published = {f"m{i:05d}" for i in range(MESSAGES)}

    assert set(acked_by) == published
    assert all(record["seen"] for record in records), "both consumers took part"
    # A message held invisibly by one consumer never reaches the other: each (id, attempt) is seen once.
    assert not [pair for pair, n in Counter(map(tuple, seen)).items() if n > 1]
    # The re-sent batch was deduplicated: every id had exactly one first attempt.
    assert Counter(mid for mid, attempt in seen if attempt == 1) == Counter(published)
    attempts: defaultdict[str, set[int]] = defaultdict(set)
    for mid, attempt in seen:
        attempts[mid].add(attempt)
    for mid, consumers_acking in acked_by.items():
        if len(consumers_acking) > 1:
            assert max(attempts[mid]) > 1, f"{mid} acked by both consumers without a redelivery"
    dropped = {mid for mid in published if int(mid[1:]) % DROP_EVERY == 0}
    assert all(2 in attempts[mid] for mid in dropped)
