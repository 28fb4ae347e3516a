"""``interlink run`` waits for its dependencies at start-up instead of exiting.

A real ``interlink run`` process hosts fault_app's two domains while (1) its broker, a private server,
is not started yet, and (2) its PostgreSQL store's connections are terminated again and again as it
starts. Each time the process logs its waits, comes up once the dependency is there, and applies every
payment exactly once. A configuration error still ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.ports.store import Store
from interlink.runtime import DomainRuntime
from interlink.runtime.backends import open_broker, open_store
from interlink.testing.waiting import wait_until
from tests.support.private_nats import PrivateNats
from tests.support.private_redis import PrivateRedis
from tests.support.services import fresh_name, require

from .apps.fault_app import payment, record_payment
from .support import INTERLINK, Landscape, subprocess_env

pytestmark = pytest.mark.faults

KILL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"


class RunProcess:
    """``interlink run fault_app`` as a real process; its output goes to files in ``folder``."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.out, self.err = folder / "run.out", folder / "run.err"
        env = subprocess_env(COLUMNS="400")  # one log record per line
        with self.out.open("wb") as stdout, self.err.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [str(INTERLINK), "run", "fault_app", *args], stdout=stdout, stderr=stderr, env=env, cwd=folder
            )

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def said(self, text: str) -> bool:
        """True once the process printed ``text``; fails the test if it ended before."""
        if text in self.output():
            return True
        assert self.proc.poll() is None, f"interlink run ended with {self.proc.returncode}:\n{self.output()[-4000:]}"
        return False

    def stop(self) -> int:
        """SIGTERM and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@contextlib.contextmanager
def running(folder: Path, *args: str) -> Iterator[RunProcess]:
    process = RunProcess(folder, *args)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


async def pay(store_url: str, ids: list[str]) -> None:
    """Commit payments into the payment store; the running process's relay publishes their events."""
    async with open_store(store_url, "payment") as store:
        runtime = DomainRuntime(payment, store, open_broker("memory://"))
        for id in ids:
            await runtime.execute(record_payment, {"id": id, "amount": 1})


async def receipts_applied_once(landscape: Landscape, ids: list[str]) -> None:
    """Wait until every payment has its receipt, then check each was applied exactly once."""
    async with landscape.counts() as counts:
        receipt: Store = counts.receipt

        async def all_there() -> bool:
            return len(await receipt.list_aggregates("Receipt", where={}, after=None, limit=1000)) >= len(ids)

        await wait_until(all_there, timeout=60, what="every receipt")
        assert await counts.receipts() == dict.fromkeys(ids, 1)
        assert await counts.dead_letters() == 0


@pytest.mark.parametrize("broker", ["nats", "redis"])
async def test_run_waits_for_a_broker_that_is_not_started_yet(broker: str, tmp_path: Path) -> None:
    """The broker is down at start: run logs its waits, comes up when it starts, applies each payment once."""
    server = PrivateNats(tmp_path / "nats") if broker == "nats" else PrivateRedis(tmp_path / "redis")
    landscape = Landscape(f"sqlite:///{tmp_path}/{{domain}}.db", server.url, tmp_path)
    ids = [f"P{i:03d}" for i in range(20)]
    try:
        with running(tmp_path, *landscape.urls(), "--startup-timeout", "60") as run:
            await wait_until(lambda: run.said("start-up: waiting for the broker"), timeout=30, what="a wait logged")
            await wait_until(lambda: run.output().count("start-up: waiting for the broker") >= 2, timeout=30)
            server.start()
            await wait_until(lambda: run.said("is ready (attempt"), timeout=60, what="the broker ready")
            await pay(landscape.store, ids)
            await receipts_applied_once(landscape, ids)
            assert run.stop() == 0, run.output()[-4000:]
    finally:
        server.stop()


async def test_run_gives_up_after_the_startup_timeout_with_one_clear_line(tmp_path: Path) -> None:
    """A broker that never comes: run exits 2 after --startup-timeout, naming the broker and the last error."""
    never = PrivateRedis(tmp_path / "redis")  # a free port; never started
    landscape = Landscape(f"sqlite:///{tmp_path}/{{domain}}.db", never.url, tmp_path)
    with running(tmp_path, *landscape.urls(), "--startup-timeout", "1.5") as run:
        code = await asyncio.to_thread(run.proc.wait, 60)
    output = run.output()
    assert code == 2, output
    assert "start-up: waiting for the broker" in output
    errors = [line for line in run.err.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "the broker at redis://127.0.0.1" in errors[0]
    assert "start-up timeout of 1.5s" in errors[0]
    assert "Traceback" not in output


async def test_sigterm_while_start_up_waits_ends_run_at_once(tmp_path: Path) -> None:
    """SIGTERM during a start-up wait ends the wait: run stops cleanly (exit 0) without waiting out the timeout."""
    never = PrivateRedis(tmp_path / "redis")  # a free port; never started
    landscape = Landscape(f"sqlite:///{tmp_path}/{{domain}}.db", never.url, tmp_path)
    with running(tmp_path, *landscape.urls(), "--startup-timeout", "600") as run:
        await wait_until(lambda: run.said("start-up: waiting for the broker"), timeout=30, what="a wait logged")
        code = await asyncio.to_thread(run.stop)
    assert code == 0, run.output()
    assert "stopped during start-up" in run.output()


async def test_run_fails_at_once_on_a_configuration_error_even_with_a_startup_timeout(tmp_path: Path) -> None:
    """A broker URL whose scheme no adapter knows ends run at once (exit 2), however long the timeout."""
    env = subprocess_env(INTERLINK_STARTUP_TIMEOUT="600")
    result = await asyncio.to_thread(
        subprocess.run,
        [str(INTERLINK), "run", "fault_app", "--broker", "kafka://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no broker adapter for kafka://" in result.stderr
    assert "waiting for" not in result.stdout + result.stderr


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_run_survives_postgres_connections_terminated_during_start_up(store_url: str, tmp_path: Path) -> None:
    """Every store connection of run is terminated as it starts: it waits, comes up, applies each payment once."""
    name = fresh_name("startkill")
    victim = f"{store_url}&application_name={name}"
    landscape = Landscape(store_url, f"sqlite:///{tmp_path}/broker.db", tmp_path)
    ids = [f"P{i:03d}" for i in range(20)]
    killed: list[int] = []
    engine = create_async_engine(
        require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with running(tmp_path, "--store", victim, "--broker", landscape.broker, "--startup-timeout", "120") as run:
            async with engine.connect() as conn:
                # Terminate the process's connections as fast as they come, until start-up had to wait a few times.
                while run.output().count("start-up: waiting for the store") < 3:
                    rows = (await conn.execute(text(KILL), {"a": name})).all()
                    killed.append(len(rows))
                    assert run.proc.poll() is None, run.output()[-4000:]
                    assert len(killed) < 20_000, f"start-up never hit a terminated connection: {run.output()[-4000:]}"
                    await asyncio.sleep(0.005)
            await wait_until(lambda: run.said("is ready (attempt"), timeout=90, what="the store ready")
            await pay(landscape.store, ids)
            await receipts_applied_once(landscape, ids)
            assert run.stop() == 0, run.output()[-4000:]
    finally:
        await engine.dispose()
    print(f"\n{sum(killed)} connections terminated during start-up")
