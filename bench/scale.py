"""Costs that stay flat as data grows: inbox lookup, get by id, a list page and one prune batch at 10k and 100k rows.

For each store (``--store``: sqlite, postgres) and each size (``--sizes``, default 10,000 and 100,000), a fresh
store of one domain is filled with N inbox marks of one subscription and N aggregates (half of them stored
replies, so a prune of ``~reply`` has work), then ANALYZEd as a live database would be. Timed, each the
median of many calls on the filled store:

- ``inbox 200``: ``Store.seen`` of 200 message ids (100 present, 100 absent), what a consumer runs per batch;
- ``get``: ``Store.load`` of one aggregate by id;
- ``list page``: ``Store.list_aggregates`` of 50 Accounts of one owner (each owner has 100 at every size), by a
  declared query field (``owner``, indexed by ``ensure_query_indexes``), the first page and the one after it;
  beside it ``list scan``, the same page by a field with the same values and no index (what every filtered
  list cost before query fields were declared): the baseline, measured in the same run;
- ``prune 1000``: one ``Store.prune`` batch of 1,000 inbox marks (what the background pruner runs), and one of
  1,000 stored replies.

The baseline of each figure is the same figure at the smallest size: the ``x base`` column is the ratio
(1.0 = flat). After each size the rows are counted (N marks minus the pruned ones), or the script exits 1.
Then, on another fresh store per size, one deadline scan with N outstanding requests: ``Store.due`` beside
the full scan the deadline watch ran before it (``scale_deadlines.py``). With ``--soak N``, a workload of
N messages with retention on, and the rows of every table at its end and after one more prune
(``scale_retention.py``). The PostgreSQL schema is dropped afterwards. Run from the repository root::

    .venv/bin/python bench/scale.py                       # sqlite and postgres, 10k and 100k
    .venv/bin/python bench/scale.py --store sqlite --sizes 10000 100000
    .venv/bin/python bench/scale.py --sizes 10000 100000 --soak 1000000 --window 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from scale_deadlines import deadline_scan
from scale_retention import soak
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import AggregateWrite, ChangeSet, InboxMark, Retained, Store

PG = "postgresql://postgres@127.0.0.1:5432/test"
SUB = "bench.handlers"
CHUNK = 5_000


async def median_ms(call: Callable[[int], Awaitable[object]], runs: int) -> float:
    """Median wall time of ``call(i)`` for i in range(runs), in milliseconds."""
    times = []
    for i in range(runs):
        start = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def fill(store: Store, n: int) -> None:
    """N inbox marks and N aggregates (every other one a stored reply), committed in chunks."""
    for base in range(0, n, CHUNK):
        ids = range(base, min(base + CHUNK, n))
        marks = [InboxMark(SUB, f"m-{i:09d}") for i in ids]
        writes = [
            AggregateWrite("~reply" if i % 2 else "Account", f"a-{i:09d}", 0, 1, json.dumps(_doc(i, n))) for i in ids
        ]
        await store.commit([ChangeSet(inbox=marks, writes=writes)])


def _doc(i: int, n: int) -> dict[str, object]:
    """Aggregate i of n: 100 Accounts (the even i) per owner whatever n, under an indexed and an unindexed field."""
    owner = f"o-{(i // 2) % max(1, n // 200):06d}"
    return {"n": i, "owner": owner, "holder": owner}


async def analyze(store: Store) -> None:
    if isinstance(store, SqliteStore):
        await store._fetch("ANALYZE", ())
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(PG.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        for table in ("interlink_inbox", "interlink_aggregates"):
            await conn.execute(text(f'ANALYZE "{store.schema}".{table}'))
    await engine.dispose()


async def measure(store: Store, n: int) -> dict[str, float]:
    await fill(store, n)
    await store.ensure_query_indexes({"Account": ["owner"]})
    await analyze(store)
    step = max(1, n // 400)

    async def lookup(i: int) -> None:
        present = [f"m-{(i * step + j * 7) % n:09d}" for j in range(100)]
        absent = [f"x-{i}-{j}" for j in range(100)]
        found = await store.seen(SUB, present + absent)
        assert len(found) == 100, len(found)

    async def get(i: int) -> None:
        even = (i * 2 * step) % n // 2 * 2  # the even ids are Accounts, the odd ones stored replies
        assert await store.load("Account", f"a-{even:09d}") is not None

    owners = max(1, n // 200)

    def pager(field: str) -> Callable[[int], Awaitable[None]]:
        async def page(i: int) -> None:
            where = {field: f"o-{(i * 7) % owners:06d}"}
            first = await store.list_aggregates("Account", where=where, after=None, limit=50)
            rest = await store.list_aggregates("Account", where=where, after=first[-1][0], limit=50)
            assert len(first) == len(rest) == 50, (len(first), len(rest))

        return page

    cut = time.time()
    pruned = 0

    async def prune_inbox(_: int) -> None:
        nonlocal pruned
        pruned += await store.prune(Retained.INBOX, cut, 1000)

    async def prune_replies(_: int) -> None:
        await store.prune(Retained.REPLY, cut, 1000)

    figures = {
        "inbox 200": await median_ms(lookup, 200),
        "get": await median_ms(get, 500),
        "list page": await median_ms(pager("owner"), 200) / 2,
        "list scan": await median_ms(pager("holder"), 10 if n >= 1_000_000 else 20) / 2,
        "prune 1000 marks": await median_ms(prune_inbox, 5),
        "prune 1000 replies": await median_ms(prune_replies, 5),
    }
    marks = await count_marks(store)
    if marks != n - pruned or pruned != min(5000, n):
        print(f"VERIFICATION FAILED: {marks} marks left, {pruned} pruned, of {n}", file=sys.stderr)
        raise SystemExit(1)
    return figures


async def count_marks(store: Store) -> int:
    if isinstance(store, SqliteStore):
        rows = await store._fetch("SELECT count(*) FROM interlink_inbox", ())
        return int(rows[0][0])
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(PG.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        value = (await conn.execute(text(f'SELECT count(*) FROM "{store.schema}".interlink_inbox'))).scalar()
    await engine.dispose()
    return int(value or 0)


async def count_rows(store: Store) -> dict[str, int]:
    """Rows per table, the aggregates per kind (every ``~counters:*`` kind together)."""
    tables = ("interlink_inbox", "interlink_outbox", "interlink_idempotency", "interlink_dead_letters")
    kinds = (
        "SELECT CASE WHEN kind LIKE '~counters:%' THEN '~counters:*' ELSE kind END AS k, count(*) "
        "FROM {}interlink_aggregates GROUP BY k"
    )
    if isinstance(store, SqliteStore):
        found = {t: int((await store._fetch(f"SELECT count(*) FROM {t}", ()))[0][0]) for t in tables}
        return found | {k: int(c) for k, c in await store._fetch(kinds.format(""), ())}
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(PG.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        found = {
            t: int((await conn.execute(text(f'SELECT count(*) FROM "{store.schema}".{t}'))).scalar() or 0)
            for t in tables
        }
        rows = await conn.execute(text(kinds.format(f'"{store.schema}".')))
        found |= {k: int(c) for k, c in rows}
    await engine.dispose()
    return found


async def drop_schema(schema: str) -> None:
    engine = create_async_engine(PG.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


Work = Callable[[Store, int], Awaitable[dict[str, float] | None]]


async def one(kind: str, n: int, folder: Path, work: Work = measure) -> dict[str, float] | None:
    if kind == "sqlite":
        async with SqliteStore(f"sqlite:///{folder}/scale-{uuid.uuid4().hex[:8]}.db", domain="bench") as store:
            return await work(store, n)
    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    try:
        async with PostgresStore(f"{PG}?schema={schema}", domain="bench") as store:
            return await work(store, n)
    finally:
        await drop_schema(schema)


def show(title: str, results: dict[int, dict[str, float] | None]) -> None:
    sizes = sorted(results)
    base = results[sizes[0]]
    assert base is not None
    print(f"\n{title}: median ms per call (x base = ratio to the same figure at {sizes[0]:,} rows)")
    print(f"{'rows':>10}  " + "  ".join(f"{name:>18} {'x base':>6}" for name in base))
    for n, figures in results.items():
        assert figures is not None
        cells = "  ".join(f"{v:>18.3f} {v / base[name]:>6.2f}" for name, v in figures.items())
        print(f"{n:>10,}  {cells}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--soak", type=int, default=0, help="messages of the retention workload (0: none)")
    parser.add_argument("--window", type=float, default=5.0, help="retention window of the workload, seconds")
    args = parser.parse_args()
    sizes = sorted(args.sizes)

    async def deadlines(store: Store, n: int) -> dict[str, float]:
        return await deadline_scan(store, n, median_ms, analyze)

    async def soaked(store: Store, n: int) -> None:
        await soak(store, n, args.window, count_rows)

    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.store or ["sqlite", "postgres"]:
            show(kind, {n: await one(kind, n, Path(tmp)) for n in sizes})
            show(f"{kind}, one deadline scan, rows = outstanding requests", {
                n: await one(kind, n, Path(tmp), deadlines) for n in sizes
            })  # fmt: skip
            if args.soak:
                print(f"\n{kind}: table sizes after {args.soak:,} messages with retention on")
                await one(kind, args.soak, Path(tmp), soaked)


if __name__ == "__main__":
    asyncio.run(main())
