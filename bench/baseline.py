"""The baseline: what a careful hand-written asyncio app does with the same events, without guarantees.

A producer task inserts one row per event into its own SQLite file (``executemany`` per batch, one commit
per batch) and hands each committed batch to a consumer task through an ``asyncio.Queue``; the consumer
inserts one row per event into its own file, batched the same way. Same kind of files as Interlink's
store (WAL, ``synchronous=FULL``), same JSON documents, same number of aggregate rows on each side. No
outbox, no inbox, no broker, no retry: a crash loses whatever sits in the queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

__all__ = ["BaselineResult", "run_baseline"]

_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL")
_TABLE = "CREATE TABLE docs (id TEXT PRIMARY KEY, data TEXT NOT NULL, created_at REAL NOT NULL)"
_INSERT = "INSERT INTO docs (id, data, created_at) VALUES (?, ?, ?)"


@dataclass(frozen=True)
class BaselineResult:
    """Timings of one baseline run, in seconds from the first event, and the CPU spent meanwhile."""

    events: int
    producer_seconds: float
    total_seconds: float
    loop_cpu_seconds: float
    cpu_seconds: float


async def _open(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path)
    for pragma in _PRAGMAS:
        await conn.execute(pragma)
    await conn.execute(_TABLE)
    await conn.commit()
    return conn


async def run_baseline(workdir: Path, events: int, batch: int = 500) -> BaselineResult:
    """Move ``events`` events producer -> queue -> consumer, both sides writing SQLite in batches."""
    producer_db = await _open(workdir / "baseline-producer.db")
    consumer_db = await _open(workdir / "baseline-consumer.db")
    queue: asyncio.Queue[list[tuple[str, str]] | None] = asyncio.Queue()
    try:
        started, loop_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()

        async def produce() -> float:
            for first in range(0, events, batch):
                now = time.time()
                rows = [
                    (f"C{i:06d}", json.dumps({"id": f"C{i:06d}", "name": f"Customer {i}", "version": 1}))
                    for i in range(first, min(first + batch, events))
                ]
                await producer_db.executemany(_INSERT, [(i, d, now) for i, d in rows])
                await producer_db.commit()
                queue.put_nowait(rows)
            queue.put_nowait(None)
            return time.perf_counter() - started

        async def consume() -> int:
            done = 0
            while (rows := await queue.get()) is not None:
                now = time.time()
                effects = [(i, json.dumps({"id": i, "source": json.loads(d)["name"]}), now) for i, d in rows]
                await consumer_db.executemany(_INSERT, effects)
                await consumer_db.commit()
                done += len(effects)
            return done

        producer_seconds, consumed = await asyncio.gather(produce(), consume())
        total_seconds = time.perf_counter() - started
        loop_cpu, cpu = time.thread_time() - loop_cpu, time.process_time() - cpu
        ((stored,),) = await consumer_db.execute_fetchall("SELECT count(*) FROM docs")
        if consumed != events or stored != events:
            raise RuntimeError(f"baseline lost events: {consumed} consumed, {stored} stored of {events}")
        return BaselineResult(events, producer_seconds, total_seconds, loop_cpu, cpu)
    finally:
        await producer_db.close()
        await consumer_db.close()
