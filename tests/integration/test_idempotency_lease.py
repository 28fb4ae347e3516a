"""An Idempotency-Key follows the process that holds it: renewed while its command runs, free again a lease
after that process was SIGKILLed, and the retry applies the command exactly once.

Two real ``interlink run --http`` processes share one store (SQLite, then PostgreSQL), one after the other;
the command waits at a gate file so the first process can be killed in the middle of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
KEY = "transfer-T1-attempt"
T = TypeVar("T")


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; TimeoutError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(
    tmp_path: Path, store: str, port: int, *extra: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`interlink run` of the gated domain on the shared store, up once /healthz answers; killed after."""
    args = [
        INTERLINK, "run", "tests.support.gated_app",
        "--store", store, "--broker", f"sqlite:///{tmp_path}/broker.db",
        "--http", f"127.0.0.1:{port}", "--log-level", "warning", *extra,
    ]  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")} | {"NO_COLOR": "1"}
    proc = subprocess.Popen(
        args, cwd=ROOT, env=base | (env or {}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=60, what="the API to answer")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _rows(store: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` (tables without schema) in the gated domain's store, SQLite or PostgreSQL."""
    if store.startswith("sqlite:///"):
        with closing(sqlite3.connect(store.removeprefix("sqlite:///").replace("{domain}", "gated"))) as db:
            return [tuple(r) for r in db.execute(sql).fetchall()]
    base, schema = store.split("?schema=", 1)

    async def query() -> list[tuple[object, ...]]:
        engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f'SET search_path TO "{schema.replace("{domain}", "gated")}"'))
                return [tuple(r) for r in (await conn.execute(text(sql))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _claim(store: str) -> tuple[str, float] | None:
    """The key's stored state and the time of its claim or last renewal."""
    rows = _rows(store, f"SELECT state, created_at FROM interlink_idempotency WHERE key = '{KEY}'")
    return (str(rows[0][0]), float(str(rows[0][1]))) if rows else None


def _transfers(store: str) -> list[tuple[object, ...]]:
    """(id, version) of every stored transfer."""
    return _rows(store, "SELECT id, version FROM interlink_aggregates WHERE kind = 'Transfer'")


def test_a_key_held_by_a_killed_process_is_free_again_and_applies_once(tmp_path: Path, store_url: str) -> None:
    """Process A (lease 1 s) holds the key past several leases while alive (409 to a retry); SIGKILLed, the
    key is free on process B within its lease (INTERLINK_IDEMPOTENCY_LEASE=2): the retry runs, once."""
    gate = tmp_path / "gate"
    gate.touch()
    body = {"id": "T1", "amount": 100, "gate": str(gate)}
    headers = {"Idempotency-Key": KEY}
    port = _free_port()
    with _process(tmp_path, store_url, port, "--idempotency-lease", "1") as first:
        url = f"http://127.0.0.1:{port}/transfers"
        holder = threading.Thread(
            target=lambda: _swallow(lambda: httpx.post(url, json=body, headers=headers, trust_env=False, timeout=90)),
            daemon=True,
        )
        holder.start()
        claim = wait_until(lambda: _claim(store_url), timeout=30, what="the key to be claimed")
        assert claim[0] == "pending"
        # Renewed beyond three leases of 1 s while the command runs: a retry is still told to wait.
        wait_until(lambda: (_claim(store_url) or claim)[1] > claim[1] + 3, timeout=30, what="renewals")
        busy = httpx.post(url, json=body, headers=headers, trust_env=False, timeout=30)
        assert busy.status_code == 409, busy.text
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = time.monotonic()
    holder.join(timeout=30)
    gate.unlink()
    assert _transfers(store_url) == [], "the killed process committed nothing"
    port = _free_port()
    with _process(tmp_path, store_url, port, env={"INTERLINK_IDEMPOTENCY_LEASE": "2"}):
        url = f"http://127.0.0.1:{port}/transfers"
        document = httpx.get(f"http://127.0.0.1:{port}/openapi.json", trust_env=False).json()
        assert "free again 2 s after" in document["info"]["description"]

        def retried() -> httpx.Response | None:
            response = httpx.post(url, json=body, headers=headers, trust_env=False, timeout=30)
            return None if response.status_code == 409 else response

        applied = wait_until(retried, timeout=20, what="the retry to run once the lease ran out")
        freed_after = time.monotonic() - killed_at
        assert applied.status_code == 201, applied.text
        assert "idempotent-replayed" not in applied.headers
        again = httpx.post(url, json=body, headers=headers, trust_env=False, timeout=30)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == applied.json()
    assert _transfers(store_url) == [("T1", 1)], "applied exactly once"
    final = _claim(store_url)
    assert final is not None
    assert final[0] == "done"
    print(f"key free and retry applied {freed_after:.1f} s after the SIGKILL (restart included)")


def _swallow(call: Callable[[], object]) -> None:
    # The request held by the killed process ends with a broken connection: that is the point.
    with contextlib.suppress(httpx.TransportError):
        call()
