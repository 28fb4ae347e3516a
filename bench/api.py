"""Commands per second over HTTP: Interlink's generated API beside a bare FastAPI endpoint doing the same write.

Both sides are served by uvicorn with the same configuration (``interlink.runtime.http.make_server``, the
function ``Runtime.serve`` uses), each in its own process, on 127.0.0.1; both are driven by the same load
generator (``api_load.py``), ``--concurrency`` connections each sending its next request as soon as the
previous one answered: ``wrk`` with ``api_orders.lua`` for ``--duration`` seconds (the default when wrk is
installed: ``apt-get install -y wrk``), or ``--client httpx``, ``--requests`` requests from this process.

- ``interlink``: ``Runtime.serve`` of a one-command domain. ``place_order`` (``POST /orders``) saves a new
  ``Order`` and emits ``OrderPlaced`` about it: aggregate row + outbox row in one transaction, on the SQLite
  store (WAL, ``synchronous=full``), with the relay running and publishing to the SQLite broker.
- ``bare``: a FastAPI endpoint that validates the same body with the same pydantic model and, through one
  aiosqlite connection (WAL, ``synchronous=FULL``), inserts the order row and an outbox-like row in one
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` per request, then returns the order.

Every run starts a fresh server on fresh files; after it the server is stopped (SIGTERM: Interlink flushes
its outbox) and the files are counted with ``sqlite3``: one order row and one outbox row per request answered
200 (and per request wrk left in flight whose row is there, looked up by id), no unsent outbox row left by
Interlink, no answer other than 200 and no socket error, or the script exits with 1.

Run from the repository root::

    .venv/bin/python bench/api.py                       # wrk, 10 s x 3 alternated runs per side, 64 connections
    .venv/bin/python bench/api.py --client httpx --requests 3000
    .venv/bin/python bench/api.py --requests 2000 --concurrency 32 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import httpx  # noqa: E402
from api_load import Load, LoadFailed, drive_httpx, drive_wrk, wrk_path  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from interlink import Aggregate, Context, Domain, PublicEvent  # noqa: E402

SIDES = ("interlink", "bare")
LABELS = {"interlink": "interlink: Runtime.serve", "bare": "bare FastAPI + aiosqlite"}

# -- the domain, and the input model both sides validate with ------------------------------------------

orders = Domain("order", description="Orders placed over HTTP (benchmark)")


@orders.aggregate
class Order(Aggregate):
    """An order as stored."""

    customer_id: str
    sku: str
    quantity: int
    status: Literal["placed", "shipped"] = "placed"


@orders.event
class OrderPlaced(PublicEvent):
    """An order was placed."""

    order_id: str
    customer_id: str
    sku: str
    quantity: int


class PlaceOrder(BaseModel):
    """Input of place_order, on both sides."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    customer_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(gt=0, le=1000)


@orders.command(http="POST /orders")
async def place_order(ctx: Context, data: PlaceOrder) -> Order:
    """Place an order: save it and tell the other domains."""
    order = Order(id=data.id, customer_id=data.customer_id, sku=data.sku, quantity=data.quantity)
    await ctx.save(order)
    ctx.emit(
        OrderPlaced(order_id=order.id, customer_id=order.customer_id, sku=order.sku, quantity=order.quantity),
        about=order,
    )
    return order


# -- the servers (run in a child process: `api.py --serve SIDE --port N --workdir DIR`) -----------------


async def serve_interlink(workdir: Path, port: int) -> None:
    """Interlink as a user runs it: Runtime.serve on the embedded default, until SIGTERM."""
    from interlink.patterns.api_exposure import ApiSettings
    from interlink.runtime import Runtime, Settings
    from interlink.runtime.http import HttpEndpoint

    settings = Settings(store_url=f"sqlite:///{workdir}/{{domain}}.db", broker_url=f"sqlite:///{workdir}/broker.db")
    await Runtime([orders], settings).serve(HttpEndpoint("127.0.0.1", port), ApiSettings())


_BARE_SCHEMA = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "CREATE TABLE orders (id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL, updated_at REAL)",
    "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, type TEXT NOT NULL, "
    "subject TEXT, body BLOB NOT NULL, created_at REAL NOT NULL)",
)


async def serve_bare(workdir: Path, port: int) -> None:
    """The hand-written endpoint: same model, same two rows in one transaction; until SIGTERM."""
    import aiosqlite
    from fastapi import FastAPI, HTTPException

    from interlink.runtime.http import HttpEndpoint, make_server

    db = await aiosqlite.connect(workdir / "bare.db", isolation_level=None)
    for statement in _BARE_SCHEMA:
        await db.execute(statement)
    lock = asyncio.Lock()  # one connection, one transaction at a time
    app = FastAPI(title="bare")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/orders")
    async def place(data: PlaceOrder) -> Order:
        order = Order(id=data.id, customer_id=data.customer_id, sku=data.sku, quantity=data.quantity, version=1)
        event = {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": "order.OrderPlaced",
            "source": "order",
            "subject": order.id,
            "data": {
                "order_id": order.id,
                "customer_id": order.customer_id,
                "sku": order.sku,
                "quantity": order.quantity,
            },
        }
        now = time.time()
        async with lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.execute(
                    "INSERT INTO orders (id, version, data, updated_at) VALUES (?, ?, ?, ?)",
                    (order.id, order.version, order.model_dump_json(), now),
                )
                await db.execute(
                    "INSERT INTO outbox (message_id, type, subject, body, created_at) VALUES (?, ?, ?, ?, ?)",
                    (event["id"], event["type"], order.id, json.dumps(event).encode(), now),
                )
                await db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                await db.execute("ROLLBACK")
                raise HTTPException(409, "order exists") from exc
        return order

    server, sock = make_server(app, HttpEndpoint("127.0.0.1", port))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve(sockets=[sock])
    finally:
        await db.close()


# -- running and verifying one side ------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """One timed run of one side."""

    load: Load
    server_cpu_seconds: float

    @property
    def requests(self) -> int:
        return self.load.ok

    @property
    def per_second(self) -> float:
        return self.load.ok / self.load.seconds


class VerificationFailed(Exception):
    """A run did not leave exactly one order and one outbox row per request answered, or a request failed."""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, trust_env=False, timeout=5) as client:
        while True:
            if proc.poll() is not None:
                raise VerificationFailed(f"the server exited with {proc.returncode} before answering")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise VerificationFailed(f"the server did not answer within {timeout:.0f}s")
            time.sleep(0.05)


def _count(path: Path, sql: str) -> int:
    with closing(sqlite3.connect(path)) as db:
        row = db.execute(sql).fetchone()
    return int(row[0]) if row else 0


def verify(side: str, workdir: Path, answered: int, unanswered: tuple[str, ...]) -> list[str]:
    """What the run left in the files, counted with sqlite3, against the requests answered 200.

    A request the generator sent but did not wait for (wrk stops at the end of its duration with requests in
    flight) may or may not have been committed; each is looked up by its id and counted if its row is there,
    so a row missing for any request answered 200 still leaves the count short.
    """
    if side == "interlink":
        from interlink.adapters.stores import schema

        path, table, kind = workdir / "order.db", schema.aggregates.name, " AND kind = 'Order'"
        outbox = f"SELECT seq FROM sqlite_sequence WHERE name = '{schema.outbox.name}'"
        unsent = _count(path, f"SELECT count(*) FROM {schema.outbox.name}")
    else:
        path, table, kind = workdir / "bare.db", "orders", ""
        outbox, unsent = "SELECT count(*) FROM outbox", 0
    in_flight = 0
    for start in range(0, len(unanswered), 500):
        ids = unanswered[start : start + 500]
        with closing(sqlite3.connect(path)) as db:
            query = f"SELECT count(*) FROM {table} WHERE id IN ({','.join('?' * len(ids))}){kind}"
            in_flight += int(db.execute(query, ids).fetchone()[0])
    expected = answered + in_flight
    counts = {
        "orders": _count(path, f"SELECT count(*) FROM {table} WHERE 1 = 1{kind}"),
        "outbox rows written": _count(path, outbox),
    }
    what = f"{answered} requests answered 200" + (
        f" and {in_flight} of the {len(unanswered)} left in flight" if unanswered else ""
    )
    problems = [f"{n} {name} for {what}" for name, n in counts.items() if n != expected]
    if unsent:
        problems.append(f"{unsent} outbox rows left unsent after a graceful stop")
    return problems


def run_once(args: argparse.Namespace, side: str, round_: int) -> RunResult:
    """A fresh server for ``side``: warm it up, time the load, stop it, verify its files."""
    with tempfile.TemporaryDirectory(prefix="interlink-bench-api-", dir=args.dir) as tmp:
        workdir, port = Path(tmp), _free_port()
        os.sync()
        proc = subprocess.Popen(
            [
                *(sys.executable, __file__, "--serve", side, "--port", str(port), "--workdir", str(workdir)),
                *(("--profile-out", args.profile_out) if args.profile_out and side == "interlink" else ()),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL if not args.verbose else None,
            stderr=None,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, proc)
            if args.warmup:  # httpx either way: a fixed number of requests, all answered before the clock
                drive_httpx(url, 0, args.warmup, args.concurrency)
            server_cpu = _cpu_seconds(proc.pid)
            if args.client == "wrk":
                load = drive_wrk(url, args.duration, args.concurrency, prefix=f"R{round_}-")
            else:
                load = drive_httpx(url, args.warmup, args.requests, args.concurrency)
            server_cpu = _cpu_seconds(proc.pid) - server_cpu
        except LoadFailed as exc:
            raise VerificationFailed(f"{side}: {exc}") from exc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise VerificationFailed(f"{side} server exited with {proc.returncode}")
        problems = verify(side, workdir, args.warmup + load.ok, load.unanswered)
        if problems:
            raise VerificationFailed(f"{side}: " + "; ".join(problems))
        return RunResult(load, server_cpu)


def print_table(args: argparse.Namespace, results: dict[str, list[RunResult]]) -> None:
    per_run = f"{args.duration} s per run" if args.client == "wrk" else f"{args.requests:,} requests per run"
    print(
        f"\n{per_run}, {args.concurrency} connections, {args.client}, medians of {args.repeat} "
        f"alternated run(s); {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {dt.datetime.now():%Y-%m-%d %H:%M}"
    )
    header = (
        f"{'':26} {'commands/s':>10} {'(min-max)':>15} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'server us/cmd':>13} {'client us/cmd':>13} {'x bare':>7}"
    )
    print(header)
    print("-" * len(header))
    base = statistics.median(r.per_second for r in results["bare"])
    for side in SIDES:
        runs = results[side]
        rates = [r.per_second for r in runs]
        rate = statistics.median(rates)
        print(
            f"{LABELS[side]:26} {rate:>10,.0f} {f'({min(rates):,.0f}-{max(rates):,.0f})':>15} "
            f"{statistics.median(r.load.p50 for r in runs) * 1e3:>7.1f} "
            f"{statistics.median(r.load.p99 for r in runs) * 1e3:>7.1f} "
            f"{statistics.median(r.server_cpu_seconds / r.requests for r in runs) * 1e6:>13,.0f} "
            f"{statistics.median(r.load.client_cpu_seconds / r.requests for r in runs) * 1e6:>13,.0f} "
            f"{rate / base:>6.2f}x"
        )
    ratio = statistics.median(r.per_second for r in results["interlink"]) / base
    # The aims: as fast as the bare endpoint with few requests in flight, 1.5x with many (group commit).
    aim = 1.5 if args.concurrency >= 64 else 1.0
    verdict = "met" if ratio >= aim else "NOT met"
    print(f"interlink / bare = {ratio:.2f} (aim at {args.concurrency} connections: {aim:.2f} or better: {verdict})")
    print(
        "commands/s: requests answered 200 / wall time of the timed phase; p50/p99: latency of one request as\n"
        "the load generator sees it; server/client us/cmd: CPU microseconds per request answered of the\n"
        f"server process and of the load generator ({'wrk' if args.client == 'wrk' else 'this process'})"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Commands per second over HTTP: Interlink's generated API (aggregate + outbox row, relay "
        "running) beside a bare FastAPI endpoint doing the same single-row write plus an outbox-like row in "
        "SQLite, same uvicorn settings, same load generator, alternated runs.",
    )
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        help="load generator: wrk (C, a few tens of us of CPU per request; default when installed) or httpx "
        "(in this process, ~1.2-2.6 ms of CPU per request; the default without wrk)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run, wrk (default 10)")
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per run, httpx (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections, one request each (default 64)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side, alternated (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=500, help="untimed requests sent to each fresh server first (default 500)"
    )
    parser.add_argument("--dir", help="parent of the fresh temp dirs (default: the system's temp dir)")
    parser.add_argument("--verbose", action="store_true", help="let the servers print to the terminal")
    parser.add_argument(
        "--profile-out",
        help="profile the Interlink server process under cProfile (event-loop thread; warm-up included) and "
        "write its stats to this file, overwritten by each run (python -m pstats FILE)",
    )
    parser.add_argument("--serve", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.repeat, args.duration) < 1 or args.warmup < 0:
        parser.error("--requests, --concurrency, --repeat and --duration must be >= 1, --warmup >= 0")
    if args.client is None and not args.serve:
        args.client = "wrk" if wrk_path() else "httpx"
        if args.client == "httpx":
            print(
                "note: wrk not found, using the httpx load generator, which costs ~1.2-2.6 ms of CPU per request "
                "and caps the rate near what the bare endpoint serves; install wrk (apt-get install -y wrk)",
                file=sys.stderr,
            )
    elif args.client == "wrk" and not wrk_path():
        parser.error("--client wrk: wrk is not installed (apt-get install -y wrk)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve = serve_interlink if args.serve == "interlink" else serve_bare
        profiler = cProfile.Profile() if args.profile_out else None
        if profiler is not None:
            profiler.enable()
        asyncio.run(serve(args.workdir, args.port))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_out)
        return 0
    results: dict[str, list[RunResult]] = {side: [] for side in SIDES}
    try:
        for round_ in range(args.repeat):
            # Alternate the order, so no side always runs first on a cool (or last on a hot) machine.
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                result = run_once(args, side, round_)
                results[side].append(result)
                print(
                    f"run {round_ + 1}/{args.repeat} {LABELS[side]:26} {result.per_second:>7,.0f} commands/s  "
                    f"p50 {result.load.p50 * 1e3:5.1f} ms  p99 {result.load.p99 * 1e3:6.1f} ms  "
                    f"({result.requests:,} answered, server {result.server_cpu_seconds / result.requests * 1e6:,.0f} "
                    f"us/cmd)",
                    flush=True,
                )
        print_table(args, results)
    except VerificationFailed as exc:
        print(f"\nVERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
