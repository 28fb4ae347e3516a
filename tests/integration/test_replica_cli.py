"""`interlink replica rebuild` as a user runs it: the producer serves its API in its own process, the
rebuild pages through it over HTTP into the consumer's store.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx

from interlink.adapters.stores.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    """The environment without any INTERLINK_* setting that would change what the command line says."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")} | {"NO_COLOR": "1"}


@contextmanager
def producer(tmp_path: Path, port: int) -> Iterator[httpx.Client]:
    """`interlink run` of the loan-request domain with its API on 127.0.0.1:port, stopped with SIGTERM after."""
    args = [
        INTERLINK, "run", "tests.support.ecst_app:loans",
        "--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/broker.db",
        "--http", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.communicate()[0]
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not come up within 60 s"
                time.sleep(0.05)
            yield client
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


async def _replica(path: Path) -> dict[str, tuple[int, bool, str]]:
    async with SqliteStore(f"sqlite:///{path}", domain="credit") as store:
        found = await store.list_aggregates("~replica:loans", where={}, after=None, limit=1000)
    return {id: (doc.version, json.loads(doc.data)["deleted"], json.loads(doc.data)["status"]) for id, doc in found}


def test_rebuild_pages_through_the_producer_api(tmp_path: Path) -> None:
    """Every live loan of the producer lands in the consumer's replica at its version, read 3 per page."""
    port = _free_port()
    with producer(tmp_path, port) as api:
        for n in range(8):
            assert api.post("/loan-requests", json={"id": f"L{n}", "amount": "10", "status": "open"}).is_success
        assert api.post("/loan-requests", json={"id": "L1", "amount": "20", "status": "approved"}).is_success
        assert api.post("/loan-request-deletions", json={"id": "L5"}).is_success
        args = [
            INTERLINK, "replica", "rebuild", "tests.support.ecst_app:credit", "--replica", "loans",
            "--source-url", f"http://127.0.0.1:{port}", "--page-size", "3",
            "--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/broker.db",
        ]  # fmt: skip
        result = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 states read in 3 pages, 7 applied" in " ".join(result.stdout.split())
    replica = asyncio.run(_replica(tmp_path / "credit.db"))
    expected = {f"L{n}": (1, False, "open") for n in range(8) if n != 5} | {"L1": (2, False, "approved")}
    assert replica == expected


def test_rebuild_of_an_unknown_replica_is_one_line(tmp_path: Path) -> None:
    """Naming a replica the domain does not declare exits 2 with one line listing the ones it has."""
    args = [
        INTERLINK, "replica", "rebuild", "tests.support.ecst_app:credit", "--replica", "nope",
        "--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/broker.db",
    ]  # fmt: skip
    result = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "declares no replica 'nope'; it has ['loans']" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stdout + result.stderr
