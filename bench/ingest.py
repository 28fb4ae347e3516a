"""Inbound file ingestion: records per second and peak RSS for a CSV through a per-record command into SQLite,
with a hand-written baseline run beside it.

Interlink side: ``interlink.patterns.inbound_file.ingest_file`` on a ``customer-files`` domain whose
``register_customer`` command saves one new Customer aggregate per record; SQLite store with its defaults
(WAL, ``synchronous=full``), records committed in batches (``--batch``) each with the file's checkpoint.
Baseline: Python's ``csv`` module reading the same file and ``executemany`` inserting the same JSON
documents into a table of the same shape, one commit per batch of the same size, same pragmas: no
validation, no command, no checkpoint, no rejects, no report.

Each side runs in a child process of its own (``--side``), so its peak RSS (``ru_maxrss`` from ``wait4``)
is its own. The clock runs from the start of ingestion (the pre-scan included) to the file archived /
the last commit; both sides are then checked to hold exactly N rows, or the script exits with 1.

Run from the repository root::

    .venv/bin/python bench/ingest.py                  # 1,000,000 rows, one run per side
    .venv/bin/python bench/ingest.py --rows 100000 --repeat 3 --batch 1000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from pydantic import BaseModel, Field  # noqa: E402

from interlink import Aggregate, Context, Domain  # noqa: E402

SIDES = ("interlink", "baseline")
_DDL = (
    "CREATE TABLE interlink_aggregates (kind VARCHAR(200) NOT NULL, id VARCHAR(200) NOT NULL, "
    "version INTEGER NOT NULL, data TEXT NOT NULL, updated_at FLOAT NOT NULL, PRIMARY KEY (kind, id))"
)


class Customer(Aggregate):
    """A customer registered from a file."""

    name: str
    email: str
    segment: str
    balance: int


class CustomerRow(BaseModel):
    """One record of a customers file, and the command's input."""

    id: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    email: str = Field(max_length=200)
    segment: str
    balance: int


def customers_domain(directory: Path, batch: int) -> Domain:
    """The benchmark's domain: one source, one command saving one new aggregate per record."""
    domain = Domain("customer-files")
    domain.aggregate(Customer)

    @domain.command
    async def register_customer(ctx: Context, data: CustomerRow) -> None:
        await ctx.save(Customer(**data.model_dump()))

    domain.inbound_file(
        "customers", directory=directory, pattern="customers-*.csv", command=register_customer, batch_size=batch
    )
    return domain


def write_csv(path: Path, rows: int) -> None:
    """``rows`` customers, a header first."""
    segments = ("retail", "private", "business", "corporate")
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("id,name,email,segment,balance\n")
        for first in range(0, rows, 10_000):
            out.write(
                "".join(
                    f"C{i:08d},Customer {i},customer{i}@example.org,{segments[i % 4]},{(i * 7919) % 1_000_000}\n"
                    for i in range(first, min(first + 10_000, rows))
                )
            )


async def run_interlink(workdir: Path, csv_path: Path, batch: int) -> int:
    """Ingest the file through Interlink; returns the records accepted."""
    from interlink.adapters.brokers.memory import MemoryBroker
    from interlink.adapters.stores.sqlite import SqliteStore
    from interlink.patterns.inbound_file import ingest_file
    from interlink.runtime.domain_runtime import DomainRuntime

    inbound = workdir / "inbound"
    inbound.mkdir()
    dropped = inbound / csv_path.name
    os.link(csv_path, dropped)  # the file moves to archive/ afterwards; the original stays for the baseline
    domain = customers_domain(inbound, batch)
    gc.freeze()  # as ``interlink ingest`` does (and the runtime): objects alive at start are left out of collections
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    async with SqliteStore(f"sqlite:///{workdir}/interlink.db", domain=domain.name) as store:
        runtime = DomainRuntime(domain, store, MemoryBroker())
        report = await ingest_file(runtime, "customers", dropped)
    if report.outcome != "archived":
        raise SystemExit(f"VERIFICATION FAILED: {report.outcome}: {report.reason}")
    return report.accepted


def run_baseline(workdir: Path, csv_path: Path, batch: int) -> int:
    """csv module + executemany into a table of the same shape; returns the rows inserted."""
    db = sqlite3.connect(workdir / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(_DDL)
    insert = "INSERT INTO interlink_aggregates (kind, id, version, data, updated_at) VALUES (?, ?, ?, ?, ?)"
    done = 0
    with open(csv_path, encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        while rows := [row for _, row in zip(range(batch), reader, strict=False)]:
            now = time.time()
            docs = [
                (
                    "Customer",
                    r[0],
                    1,
                    json.dumps(
                        {"id": r[0], "version": 1, "name": r[1], "email": r[2], "segment": r[3], "balance": int(r[4])},
                        separators=(",", ":"),
                    ),
                    now,
                )
                for r in rows
            ]
            db.execute("BEGIN")
            db.executemany(insert, docs)
            db.execute("COMMIT")
            done += len(docs)
    db.close()
    return done


def count(path: Path) -> int:
    """Rows of the aggregates table, counted with sqlite3."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM interlink_aggregates WHERE kind = 'Customer'").fetchone()[0])
    finally:
        db.close()


def child(side: str, workdir: Path, csv_path: Path, batch: int) -> None:
    """Run one side in this process and print its result as one JSON line."""
    if side == "interlink":
        # Imported before the clock starts, as the baseline's sqlite3 is: loading SQLAlchemy is no record's cost.
        import interlink.adapters.stores.sqlite
        import interlink.patterns.inbound_file
        import interlink.runtime.domain_runtime  # noqa: F401
    started, cpu_started = time.perf_counter(), time.process_time()
    if side == "interlink":
        done = asyncio.run(run_interlink(workdir, csv_path, batch))
        stored = count(workdir / "interlink.db")
    else:
        done = run_baseline(workdir, csv_path, batch)
        stored = count(workdir / "baseline.db")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(json.dumps({"records": done, "stored": stored, "seconds": seconds, "cpu": cpu}))


def measure(side: str, csv_path: Path, batch: int) -> dict[str, float]:
    """Run a side in a child process; its figures and its peak RSS in MiB."""
    with tempfile.TemporaryDirectory(prefix=f"ingest-{side}-", dir=csv_path.parent) as tmp:
        os.sync()  # the previous run's write-back is not this run's cost
        args = [sys.executable, __file__, "--side", side, "--workdir", tmp, "--csv", str(csv_path)]
        process = subprocess.Popen([*args, "--batch", str(batch)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{side} failed with exit code {process.returncode}: {output}")
        result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
        result["rss_mib"] = usage.ru_maxrss / 1024
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="records per transaction, both sides")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side, alternated; medians printed")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args.side, args.workdir, args.csv, args.batch)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        csv_path = Path(tmp) / "customers-1.csv"
        write_csv(csv_path, args.rows)
        size = csv_path.stat().st_size
        print(f"{args.rows:,} rows, {size / 2**20:,.1f} MiB CSV, batches of {args.batch}, {os.cpu_count()} CPUs")
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
        for round_ in range(args.repeat):
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                result = measure(side, csv_path, args.batch)
                if result["records"] != args.rows or result["stored"] != args.rows:
                    print(f"VERIFICATION FAILED: {side}: {result}")
                    sys.exit(1)
                runs[side].append(result)
    base = statistics.median(args.rows / r["seconds"] for r in runs["baseline"])
    print(f"{'':34}{'records/s':>11}{'seconds':>9}{'cpu s':>8}{'cpu us/rec':>11}{'peak RSS MiB':>14}{'x base':>8}")
    print("-" * 95)
    labels = {"interlink": "interlink: per-record command", "baseline": "baseline: csv + executemany"}
    for side in SIDES:
        rate = statistics.median(args.rows / r["seconds"] for r in runs[side])
        seconds = statistics.median(r["seconds"] for r in runs[side])
        cpu = statistics.median(r["cpu"] for r in runs[side])
        rss = max(r["rss_mib"] for r in runs[side])
        per = cpu / args.rows * 1e6
        print(f"{labels[side]:34}{rate:>11,.0f}{seconds:>9.2f}{cpu:>8.2f}{per:>11.1f}{rss:>14,.1f}{rate / base:>7.2f}x")


if __name__ == "__main__":
    main()
