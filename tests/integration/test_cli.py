"""The `interlink` command as a user runs it: real processes, real signals, real files."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from examples.bank.customer import customer, register_customer

from interlink.adapters.brokers.sqlite import SqliteBroker
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.runtime.domain_runtime import DomainRuntime

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTERLINK, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "nosuch.module"], "cannot import 'nosuch.module'"),
        (["run", "examples.bank:nothing"], "'nothing' is not a Domain"),
        (["run", "examples.bank", "--store", "postgres://u:secret@h/db"], "no store adapter for postgres://"),
        (["run", "examples.bank", "--broker", "kafka://h"], "no broker adapter for kafka://"),
        (["run", "examples.bank", "--store", "sqlite:///one.db"], "put {domain} in it"),
        (["run", "examples.bank", "--store", "sqlite://host/x.db"], "bad SQLite URL"),
        (["dead-letters", "show", "examples.bank:customer", "9", "--store", "memory://"], "no dead letter 9"),
    ],
)
def test_configuration_errors_are_one_clear_line(args: list[str], expected: str) -> None:
    """A bad target, URL or id exits 2 with one line naming the problem, never a traceback."""
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "secret" not in result.stderr
    # Besides the error, an operational command may first say which store it reads ("<domain>: store ...").
    said = [line for line in result.stderr.strip().splitlines() if line.startswith("error:") or ": store " not in line]
    assert len(said) == 1, result.stderr


async def _queue_commands(workdir: Path, count: int) -> None:
    """Commit `count` register commands into the customer store without relaying them."""
    store = SqliteStore(f"sqlite:///{workdir}/customer.db", domain="customer")
    broker = SqliteBroker(f"sqlite:///{workdir}/broker.db")
    async with store, broker:
        runtime = DomainRuntime(customer, store, broker)
        await asyncio.gather(
            *(
                runtime.execute(register_customer, {"id": f"C{i}", "name": f"N{i}", "email": f"c{i}@x.org"})
                for i in range(count)
            )
        )
        # Each registration emits CustomerRegistered and the thin CustomerChanged.
        assert (await store.outbox_status()).pending == 2 * count


async def _credit_files(workdir: Path, count: int) -> int:
    async with SqliteStore(f"sqlite:///{workdir}/loan-request.db", domain="loan-request") as store:
        found = [await store.load("CreditFile", f"C{i}") for i in range(count)]
    versions = {f.version for f in found if f is not None}
    assert versions <= {1}, f"a credit file was written more than once: versions {versions}"
    return sum(f is not None for f in found)


def _start(workdir: Path) -> subprocess.Popen[str]:
    # The bank's domains read the customer API back on its notifications: serve it, and point them at it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "INTERLINK_SERVICE_CUSTOMER_URL": f"http://127.0.0.1:{port}/customer"}
    return subprocess.Popen(
        [
            INTERLINK, "run", "examples.bank",
            "--store", f"sqlite:///{workdir}/{{domain}}.db",
            "--broker", f"sqlite:///{workdir}/broker.db?visibility_timeout=2",
            "--http", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.faults
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
async def test_run_stops_gracefully_and_loses_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    """A signal mid-run stops `interlink run` with exit 0; a second run finishes; every event applied once."""
    count = 1000
    await _queue_commands(tmp_path, count)
    proc = _start(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while await _credit_files(tmp_path, count) == 0:
            assert time.monotonic() < deadline, "the first run handled nothing"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            await asyncio.sleep(0.05)
        os.kill(proc.pid, sig)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
    async with SqliteStore(f"sqlite:///{tmp_path}/customer.db", domain="customer") as store:
        assert (await store.outbox_status()).pending == 0, "the relay did not flush the outbox on shutdown"
    second = _start(tmp_path)
    try:
        deadline = time.monotonic() + 240  # each registration is also fetched back over HTTP by loan-request
        while (done := await _credit_files(tmp_path, count)) < count:
            assert time.monotonic() < deadline, f"only {done} of {count} credit files after restart"
            await asyncio.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    assert second.returncode == 0
