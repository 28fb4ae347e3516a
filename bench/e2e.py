"""End-to-end throughput on the embedded default, with a hand-written baseline run beside it.

Path measured: command -> store + outbox (one transaction) -> relay -> broker -> consumer -> handler's
command -> store + inbox mark (one transaction). Two domains run in one Runtime, each on its own SQLite
store, with the SQLite broker (or ``--broker memory://``), all in a fresh temp dir per run. The
landscapes are described in ``landscape.py``; the baseline in ``baseline.py``.

The clock runs from the first command until the consumer has committed the N-th effect (the consumers'
``stats.processed``); afterwards the store files are opened with ``sqlite3`` and must hold exactly N
aggregates on each side, N inbox marks, no outbox row and no dead letter, or the script exits with 1.

Run from the repository root::

    .venv/bin/python bench/e2e.py                       # 20,000 events, 3 alternated runs per side
    .venv/bin/python bench/e2e.py --broker sqlite --broker memory:// --landscape minimal --landscape bank
    .venv/bin/python bench/e2e.py --events 5000 --repeat 1 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from baseline import run_baseline  # noqa: E402
from brokers_split import run_split  # noqa: E402
from landscape import LANDSCAPES, Landscape  # noqa: E402

from interlink import Domain  # noqa: E402
from interlink.observability.metrics import disable_metrics, enable_metrics  # noqa: E402

BROKERS = {"sqlite": "sqlite:///{dir}/broker.db", "memory://": "memory://"}


@dataclass(frozen=True)
class Side:
    """One thing timed: Interlink on a landscape and a broker, or (landscape None) the baseline."""

    landscape: str | None = None
    broker: str = ""
    metrics: bool = False  # with OpenTelemetry metrics recorded (interlink[otel])
    layout: str = "one"  # one: both domains in this process; split: a process per domain

    @property
    def label(self) -> str:
        if self.landscape is None:
            return "baseline: sqlite + queue"
        label = f"interlink {self.landscape}, {self.broker.rstrip(':/')} broker"
        return label + (", 2 processes" if self.layout == "split" else "") + (" +metrics" if self.metrics else "")


class VerificationFailed(Exception):
    """The run did not leave exactly one effect per command."""


@dataclass(frozen=True)
class RunResult:
    """One timed run: seconds from the first command to the last command returned / last effect committed,
    and the CPU spent meanwhile by the event loop's thread and by the whole process (driver threads too)."""

    events: int
    producer_seconds: float
    total_seconds: float
    loop_cpu_seconds: float | None  # None: two processes, two loops (their CPU is in cpu_seconds)
    cpu_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.total_seconds

    @property
    def commands_per_second(self) -> float:
        return self.events / self.producer_seconds


# -- interlink ---------------------------------------------------------------------------------------


async def run_interlink(workdir: Path, events: int, concurrency: int, side: Side, patience: float) -> RunResult:
    """Drive ``events`` commands with ``concurrency`` in flight; wait for every effect; verify the files."""
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES[side.landscape]()
    settings = Settings(
        store_url=f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=BROKERS[side.broker].format(dir=workdir),
    )
    async with Runtime([land.producer, land.consumer], settings) as rt:
        producer, consumer = rt[land.producer.name], rt[land.consumer.name]
        numbers = iter(range(events))

        async def drive() -> None:
            for i in numbers:  # shared iterator: every worker takes the next number
                await producer.execute(land.command, land.input(i))

        started, loop_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
        await asyncio.gather(*(drive() for _ in range(concurrency)))
        produced = time.perf_counter()
        deadline = produced + patience
        while (done := sum(c.stats.processed for c in consumer.consumers)) < events:
            if time.perf_counter() > deadline:
                raise VerificationFailed(f"only {done} of {events} effects after waiting {patience:.0f}s")
            await asyncio.sleep(0.002)
        finished = time.perf_counter()
        loop_cpu, cpu = time.thread_time() - loop_cpu, time.process_time() - cpu
        stats = [c.stats for c in consumer.consumers]
    problems = [f"consumer errors {s.errors}" for s in stats if s.errors or s.dead_lettered]
    problems += _verify_files(workdir, events, land)
    if problems:
        raise VerificationFailed(f"{side.label}: " + "; ".join(problems))
    return RunResult(events, produced - started, finished - started, loop_cpu, cpu)


def run_processes(workdir: Path, events: int, concurrency: int, side: Side, patience: float) -> RunResult:
    """The producer and the consumer domain each in a process of its own (``brokers_split``), as
    ``interlink run --workers 2`` runs them, on the same files; timed across the two, then verified."""
    land = LANDSCAPES[side.landscape or "minimal"]()
    config = {
        "kind": "sqlite",
        "ns": workdir.name,
        "landscape": side.landscape,
        "store": f"sqlite:///{workdir}/{{domain}}.db",
        "broker": BROKERS[side.broker].format(dir=workdir),
        "events": events,
        "concurrency": concurrency,
        "consumers": 1,
        "patience": patience,
    }
    try:
        run, errors = run_split(config, "split", {"subscriptions": set(), "channels": set()})
    except RuntimeError as exc:
        raise VerificationFailed(f"{side.label}: {exc}") from exc
    problems = [f"{errors} consumer errors"] if errors else []
    problems += _verify_files(workdir, events, land)
    if problems:
        raise VerificationFailed(f"{side.label}: " + "; ".join(problems))
    return RunResult(run.events, run.produced, run.seconds, None, sum(run.cpu.values()))


def _verify_files(workdir: Path, events: int, land: Landscape) -> list[str]:
    """Count in the stores' files, with sqlite3, what the run left behind."""
    from interlink.adapters.stores import schema

    def count(domain: Domain, sql: str, *params: object) -> int:
        conn = sqlite3.connect(workdir / f"{domain.name}.db")
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        finally:
            conn.close()

    of_kind = f"SELECT count(*) FROM {schema.aggregates.name} WHERE kind = ?"
    expected = {
        f"{land.produced.__name__} aggregates": (land.producer, of_kind, land.produced.aggregate_name()),
        f"{land.effect.__name__} aggregates": (land.consumer, of_kind, land.effect.aggregate_name()),
        "inbox marks": (land.consumer, f"SELECT count(*) FROM {schema.inbox.name}"),
    }
    must_be_empty = {
        "unsent outbox rows": (land.producer, f"SELECT count(*) FROM {schema.outbox.name}"),
        "dead letters": (land.consumer, f"SELECT count(*) FROM {schema.dead_letters.name}"),
    }
    problems = []
    for what, (domain, sql, *params) in expected.items():
        if (n := count(domain, sql, *params)) != events:
            problems.append(f"{n} {what} for {events} commands")
    for what, (domain, sql) in must_be_empty.items():
        if n := count(domain, sql):
            problems.append(f"{n} {what} left")
    return problems


# -- running and reporting ---------------------------------------------------------------------------


def _fresh_dir(parent: str | None) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="interlink-bench-", dir=parent)


def run_once(args: argparse.Namespace, side: Side, events: int) -> RunResult:
    """One run of one side, in a fresh temp dir."""
    gc.collect()
    os.sync()  # start each run without the previous run's dirty pages still being written back
    with _fresh_dir(args.dir) as tmp:
        workdir = Path(tmp)
        if side.landscape is None:
            b = asyncio.run(run_baseline(workdir, events, args.baseline_batch))
            return RunResult(b.events, b.producer_seconds, b.total_seconds, b.loop_cpu_seconds, b.cpu_seconds)
        if side.metrics:
            enable_metrics()
        if side.layout == "split":
            return run_processes(workdir, events, args.concurrency, side, args.timeout)
        try:
            return asyncio.run(run_interlink(workdir, events, args.concurrency, side, args.timeout))
        finally:
            disable_metrics()


def profile_once(args: argparse.Namespace, side: Side) -> None:
    """One extra Interlink run under cProfile (event-loop thread only); prints the top costs."""
    profiler = cProfile.Profile()
    with _fresh_dir(args.dir) as tmp:
        profiler.enable()
        result = asyncio.run(run_interlink(Path(tmp), args.events, args.concurrency, side, args.timeout))
        profiler.disable()
    print(f"\nprofile of {side.label}: {result.events_per_second:,.0f} events/s under cProfile")
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
        print(f"stats written to {args.profile_out} (python -m pstats {args.profile_out})")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(args.profile_top)
    stats.sort_stats("cumulative").print_stats(args.profile_top)


def print_table(args: argparse.Namespace, results: dict[Side, list[RunResult]]) -> None:
    base = statistics.median(r.events_per_second for r in results[Side()])
    print(
        f"\n{args.events:,} events, {args.concurrency} commands in flight, medians of {args.repeat} "
        f"alternated run(s); {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {dt.datetime.now():%Y-%m-%d %H:%M}"
    )
    width = max(len(side.label) for side in results)
    header = (
        f"{'':{width}} {'events/s':>9} {'(min-max)':>17} {'commands/s':>10} {'seconds':>7} "
        f"{'loop us/ev':>10} {'cpu us/ev':>9} {'x base':>7}"
    )
    print(header)
    print("-" * len(header))
    for side, runs in results.items():
        rates = [r.events_per_second for r in runs]
        rate = statistics.median(rates)
        print(
            f"{side.label:{width}} {rate:>9,.0f} {f'({min(rates):,.0f}-{max(rates):,.0f})':>17} "
            f"{statistics.median(r.commands_per_second for r in runs):>10,.0f} "
            f"{statistics.median(r.total_seconds for r in runs):>7.2f} "
            f"{_loop_cpu(runs):>10} "
            f"{statistics.median(r.cpu_seconds / r.events for r in runs) * 1e6:>9,.0f} {rate / base:>6.3f}x"
        )
    print(
        "events/s: first command to N-th effect committed; commands/s: producer side only; loop us/ev and\n"
        "cpu us/ev: CPU microseconds per event of the event loop's thread and of the whole process (2 processes:\n"
        "of both processes, each with its own loop)"
    )
    for name in args.landscape:
        print(f"{name}: {LANDSCAPES[name]().describe}")


def _loop_cpu(runs: list[RunResult]) -> str:
    """Median CPU microseconds per event of the event loop's thread, or ``-`` for two processes."""
    spent = [r.loop_cpu_seconds / r.events for r in runs if r.loop_cpu_seconds is not None]
    return f"{statistics.median(spent) * 1e6:,.0f}" if spent else "-"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Interlink end to end (command -> outbox -> relay -> broker -> handler commit) "
        "against a hand-written SQLite + asyncio.Queue baseline, run alternately in one process.",
    )
    parser.add_argument("--events", type=int, default=20_000, help="commands to run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side, alternated (default 3)")
    parser.add_argument("--concurrency", type=int, default=500, help="commands in flight at once (default 500)")
    parser.add_argument(
        "--broker",
        action="append",
        choices=sorted(BROKERS),
        help="broker of the Interlink runs: sqlite (the embedded default, a file in the temp dir) or "
        "memory://; repeat the option to time both (default: sqlite)",
    )
    parser.add_argument(
        "--landscape",
        action="append",
        choices=sorted(LANDSCAPES),
        help="minimal: the handler only saves; bank: examples/bank, whose handler reads once, then saves; "
        "repeat the option to time both (default: minimal)",
    )
    parser.add_argument(
        "--layout",
        action="append",
        choices=["one", "split"],
        help="one: both domains in this process; split: the producer and the consumer domain in a process each, "
        "as `interlink run --workers 2` runs them (sqlite broker only); repeat to time both (default: one)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1000, help="events of one untimed run per side first (default 1000)"
    )
    parser.add_argument("--baseline-batch", type=int, default=500, help="rows per executemany + commit (default 500)")
    parser.add_argument("--metrics", action="store_true", help="also run each side with metrics on, side by side")
    parser.add_argument("--dir", help="parent of the fresh temp dirs (default: the system's temp dir)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the last effect (default 300)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="then one more Interlink run (the first side) under cProfile"
    )
    parser.add_argument("--profile-out", help="also write the cProfile stats to this file")
    parser.add_argument("--profile-top", type=int, default=30, help="rows per profile table (default 30)")
    args = parser.parse_args(argv)
    args.broker = list(dict.fromkeys(args.broker or ["sqlite"]))
    args.landscape = list(dict.fromkeys(args.landscape or ["minimal"]))
    args.layout = list(dict.fromkeys(args.layout or ["one"]))
    if "split" in args.layout and "memory://" in args.broker:
        parser.error("--layout split needs a broker the processes share: --broker sqlite")
    if min(args.events, args.repeat, args.concurrency, args.baseline_batch) < 1 or args.warmup < 0:
        parser.error("--events, --repeat, --concurrency, --baseline-batch must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sides = [
        Side(landscape, broker, layout=layout)
        for landscape in args.landscape
        for broker in args.broker
        for layout in args.layout
    ]
    if args.metrics:  # each side again with metrics on, printed beside it
        sides = [s for side in sides for s in (side, Side(side.landscape, side.broker, True, side.layout))]
    sides += [Side()]
    results: dict[Side, list[RunResult]] = {side: [] for side in sides}
    try:
        if args.warmup:
            # Imports, pydantic schemas and SQLAlchemy's statement cache: not for the first timed run to pay.
            for side in sides:
                run_once(args, side, args.warmup)
        for round_ in range(args.repeat):
            # Alternate the order too, so no side always runs first on a cool (or last on a hot) machine.
            for side in sides if round_ % 2 == 0 else sides[::-1]:
                result = run_once(args, side, args.events)
                results[side].append(result)
                print(
                    f"run {round_ + 1}/{args.repeat} {side.label:32} {result.events_per_second:>8,.0f} "
                    f"events/s {result.commands_per_second:>8,.0f} commands/s {result.total_seconds:>6.2f} s",
                    flush=True,
                )
        print_table(args, results)
        if args.profile:
            profile_once(args, sides[0])
    except VerificationFailed as exc:
        print(f"\nVERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
