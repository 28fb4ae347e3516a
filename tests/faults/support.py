"""Helpers of the fault tests: fault_app landscapes on any store and broker, real runner processes, counting.

A :class:`Landscape` is a store URL (with ``{domain}``) and a broker URL, fresh for one test: the
``backends`` fixture's pair, or a tagged variant of it when one test runs several landscapes side by side.
Every count goes through the Store port (``open_store``, ``list_aggregates``, ``outbox_status``,
``dead_letters``), never through a backend's own tables, so the same assertions hold on every pair.

The domains live in ``apps/fault_app.py``; subprocesses import it as ``fault_app`` (``apps`` is on their
``PYTHONPATH``), this process through its package (``.apps.fault_app``). The message types are the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlink.ports.store import Store, StoredAggregate
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

from .apps.receipts import ReceiptCursor

APPS = Path(__file__).parent / "apps"
RUNNER = APPS / "runner.py"
INTERLINK = Path(sys.executable).parent / "interlink"
# Set by a test for one subprocess only; never inherited from the shell that runs pytest.
_PRIVATE_ENV = ("INTERLINK_CRASH_AT", "FAULT_APP_FIXED", "INTERLINK_STORE", "INTERLINK_BROKER")


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without the knobs the tests set themselves, plus ``apps`` on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(APPS), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def payment_ids(n: int) -> list[str]:
    """The ids the runner gives its N good payments."""
    return [f"P{i:05d}" for i in range(n)]


async def list_all(store: Store, kind: str) -> dict[str, StoredAggregate]:
    """Every stored aggregate of a kind, by id, a thousand per query (``Store.list_aggregates``)."""
    found: dict[str, StoredAggregate] = {}
    after = None
    while True:
        page = await store.list_aggregates(kind, where={}, after=after, limit=1000)
        found.update(page)
        if len(page) < 1000:
            return found
        after = page[-1][0]


@dataclass(frozen=True)
class Landscape:
    """fault_app's two domains on one store URL template and one broker URL; ``folder`` keeps process output."""

    store: str
    broker: str
    folder: Path
    label: str = "main"

    @classmethod
    def of(cls, backends: Backends, folder: Path, tag: str | None = None) -> Landscape:
        """The backends' own landscape, or (with ``tag``) a fresh one beside it with names of its own.

        A tagged landscape puts its SQLite files in ``folder/tag``, its PostgreSQL schemas after the
        fixture's prefix (so the fixture still drops them), and its broker in ``<namespace>_<tag>`` or
        ``folder/tag/broker.db``.
        """
        if tag is None:
            folder.mkdir(parents=True, exist_ok=True)
            return cls(backends.store, backends.broker, folder)
        if not re.fullmatch(r"[a-z0-9_]{1,30}", tag):
            raise ValueError(f"tag {tag!r}: use 1-30 of a-z, 0-9, _")
        folder = folder / tag
        folder.mkdir(parents=True, exist_ok=True)
        if backends.store.startswith("sqlite:"):
            store = f"sqlite:///{folder}/{{domain}}.db"
        else:
            store, count = re.subn(r"(schema=[^&]*?)\{domain\}", rf"\g<1>{tag}_{{domain}}", backends.store)
            assert count == 1, f"no schema option with {{domain}} in {backends.store}"
        if backends.broker.startswith("sqlite:"):
            broker = f"sqlite:///{folder}/broker.db"
        else:
            broker, count = re.subn(r"(namespace=[^&]*)", rf"\g<1>_{tag}", backends.broker)
            assert count == 1, f"no namespace option in {backends.broker}"
        return cls(store, broker, folder, tag)

    def urls(self) -> tuple[str, ...]:
        """``--store`` and ``--broker`` options for the runner and the CLI."""
        return ("--store", self.store, "--broker", self.broker)

    def counts(self) -> Counts:
        """Counting what is in the landscape's stores: ``async with landscape.counts() as counts: ...``."""
        return Counts(self)


class Counts:
    """Both domains' stores of a landscape, open, and what they hold, through the Store port only."""

    def __init__(self, landscape: Landscape) -> None:
        self.payment = open_store(landscape.store, "payment")
        self.receipt = open_store(landscape.store, "receipt")

    async def __aenter__(self) -> Counts:
        await self.payment.connect()
        try:
            await self.receipt.connect()
        except BaseException:
            await self.payment.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.payment.close()
        await self.receipt.close()

    async def receipts(self) -> dict[str, int]:
        """Payment id -> how many times its event was applied, for every receipt in the receipt domain."""
        return {
            id: int(json.loads(doc.data)["applied"]) for id, doc in (await list_all(self.receipt, "Receipt")).items()
        }

    async def payments(self) -> int:
        """Payments committed in the payment domain."""
        return len(await list_all(self.payment, "Payment"))

    async def outbox(self) -> int:
        """Outbox rows of the payment domain not yet confirmed by the broker."""
        return (await self.payment.outbox_status()).pending

    async def parked(self) -> list[tuple[str, int]]:
        """(message type, attempts) of every dead letter of the receipt domain, oldest first."""
        return [(d.message_type, d.attempts) for d in await self.receipt.dead_letters(limit=1000)]

    async def dead_letters(self) -> int:
        """Dead letters in both domains' stores."""
        return sum([len(await store.dead_letters(limit=1000)) for store in (self.payment, self.receipt)])

    async def wait_for_receipts(
        self, cursor: ReceiptCursor, runners: Sequence[Runner], within: float, stalled: float = 30
    ) -> None:
        """Follow the cursor until every receipt exists. Give up early, leaving the test's counts to say what
        is missing, when a message was parked (its receipt never comes), none of the runners runs any more,
        or no receipt came for ``stalled`` seconds."""
        loop = asyncio.get_running_loop()
        last = (cursor.found, loop.time())

        async def all_found_or_hopeless() -> bool:
            nonlocal last
            if not any(runner.running for runner in runners) or await self.dead_letters():
                return True
            if await cursor.look() != last[0]:
                last = (cursor.found, loop.time())
            return cursor.complete or loop.time() - last[1] > stalled

        await wait_until(all_found_or_hopeless, timeout=within, interval=0.1, what="all receipts")


@dataclass
class Run:
    """A finished runner process: its exit code, its JSON report (if it printed one) and its output."""

    returncode: int
    report: dict[str, Any]
    stdout: str
    stderr: str
    label: str = ""

    def describe(self) -> str:
        """Exit code, report, the errors it logged (first ten) and the end of its stderr."""
        errors = [line for line in self.stderr.splitlines() if line.startswith(("ERROR", "Traceback"))][:10]
        return (
            f"{self.label}: exit {self.returncode}\nstdout: {self.stdout}\nerrors logged: {errors}\n"
            f"stderr (last 3000 chars): {self.stderr[-3000:]}"
        )


def finish_runner(proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float, label: str = "") -> Run:
    """Wait for a process whose output goes to ``out`` and ``err`` (SIGKILLed after ``timeout``) and read
    what it did: the last JSON line of its stdout is its report."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stdout, stderr = out.read_text(), err.read_text()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return Run(proc.returncode, json.loads(lines[-1]) if lines else {}, stdout, stderr, label)


class Runner:
    """``apps/runner.py`` started as a real process on a landscape; its output goes to files in the folder."""

    def __init__(self, landscape: Landscape, mode: str, n: int, *args: str, crash_at: str | None = None) -> None:
        env = subprocess_env(**({"INTERLINK_CRASH_AT": crash_at} if crash_at else {}))
        folder = landscape.folder
        tag = f"{mode}-{crash_at or 'clean'}-{len(list(folder.glob('*.out')))}".replace(":", "_")
        self.label = f"{landscape.label}/{tag}"
        self.out, self.err = folder / f"{tag}.out", folder / f"{tag}.err"
        self.ready, self.status = folder / f"{tag}.ready", folder / f"{tag}.status"
        command = [sys.executable, str(RUNNER), mode, str(n), *landscape.urls(), *args]
        command += ["--ready", str(self.ready), "--status", str(self.status)]
        with self.out.open("wb") as stdout, self.err.open("wb") as stderr:
            self.proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=folder)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def progress(self) -> dict[str, Any]:
        """The last status the process wrote ({} before the first)."""
        try:
            return dict(json.loads(self.status.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def stop(self) -> None:
        """SIGTERM: it gives up, stops its runtime gracefully (which logs how its tasks ended) and exits 3."""
        if self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        """SIGKILL, if it still runs, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    async def finish(self, backstop: float = 90) -> Run:
        """Wait for the process (SIGKILLed after ``backstop`` seconds, above its own timeout); read its output."""
        return await asyncio.to_thread(finish_runner, self.proc, self.out, self.err, backstop, self.label)


async def run_runner(
    landscape: Landscape, mode: str, n: int, *args: str, crash_at: str | None = None, backstop: float = 90
) -> Run:
    """Run ``apps/runner.py`` to its end (or its crash) and return what it did."""
    runner = Runner(landscape, mode, n, *args, crash_at=crash_at)
    try:
        return await runner.finish(backstop)
    finally:
        runner.kill()


async def run_cli(*args: str, cwd: Path, backstop: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``interlink`` command as a real process (in a thread, so the loop keeps going)."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(INTERLINK), *args],
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        cwd=cwd,
        timeout=backstop,
        check=False,
    )
