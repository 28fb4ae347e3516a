"""``interlink run --workers 2``: payment and receipt in two worker processes under one supervising parent.

Payments are posted over HTTP to the payment worker; each becomes a receipt in the receipt worker, over
the broker. Both workers are killed with SIGKILL along the way and must be started again by the parent,
with no payment lost and none applied twice; SIGTERM to the parent then stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from interlink.testing.waiting import wait_until

from .support import INTERLINK, Landscape, subprocess_env

N = 300
_RUNNING = re.compile(r"worker (\w+) running \(pid (\d+)\)")


def _two_free_ports() -> int:
    """A port P with P and P + 1 free (worker i serves on P + i)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


class Supervised:
    """``interlink run http_app --workers 2`` in a subprocess, its log in a file."""

    def __init__(self, landscape: Landscape, *options: str) -> None:
        self.port = _two_free_ports()
        self.log = landscape.folder / "supervisor.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [str(INTERLINK), "run", "http_app", "--workers", "2", *landscape.urls(), "--http",
             f"127.0.0.1:{self.port}", "--visibility-timeout", "1", "--startup-timeout", "30", *options],
            cwd=landscape.folder, env=subprocess_env(), stdout=self._out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def running(self) -> dict[str, list[int]]:
        """Every pid each worker was running under, in order."""
        found: dict[str, list[int]] = {}
        for name, pid in _RUNNING.findall(self.log.read_text()):
            found.setdefault(name, []).append(int(pid))
        return found

    async def restarted(self, name: str, old: int) -> int:
        """The pid of the worker's next run after ``old``."""

        def new() -> int | None:
            assert self.proc.poll() is None, self.log.read_text()
            pids = self.running().get(name, [])
            return pids[-1] if pids and pids[-1] != old else None

        return await wait_until(new, timeout=60, interval=0.1, what=f"worker {name} to run again")

    def output(self) -> str:
        return self.log.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pids in self.running().values():
            for pid in pids:
                _kill(pid)
        self._out.close()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of the parent that exited but was not reaped yet is gone too.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


async def _post(http: httpx.AsyncClient, ids: range) -> None:
    for start in range(ids.start, ids.stop, 20):
        answers = await asyncio.gather(
            *(
                http.post("/payments", json={"id": f"P{i:05d}", "amount": i})
                for i in range(start, min(start + 20, ids.stop))
            )
        )
        assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]


async def _healthy(url: str) -> bool | None:
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        try:
            return (await http.get(f"{url}/healthz")).status_code == 200 or None
        except httpx.TransportError:
            return None


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize(
    ("store_url", "broker_url"),
    [("sqlite", "embedded"), ("postgres", "nats"), ("postgres", "redis"), ("postgres", "rabbitmq")],
    indirect=True,
)
async def test_two_workers_survive_kill_9_and_stop_on_sigterm(landscape: Landscape) -> None:
    """Both workers killed with SIGKILL are started again: N payments in, N receipts out, each applied once;
    SIGTERM to the parent stops both workers and it exits 0."""
    supervised = Supervised(landscape)
    payment_url, receipt_url = (f"http://127.0.0.1:{supervised.port + i}" for i in (0, 1))
    try:
        pids = await wait_until(
            lambda: (supervised.proc.poll() is None or pytest.fail(supervised.output()))
            and (p if len(p := supervised.running()) == 2 else None),
            timeout=60, interval=0.1, what="both workers to run",
        )  # fmt: skip
        await wait_until(lambda: _healthy(payment_url), timeout=30, interval=0.1, what="the payment API")
        async with httpx.AsyncClient(base_url=payment_url, trust_env=False, timeout=30) as http:
            await _post(http, range(0, N // 3))
        # The receipt worker dies with deliveries in hand (unacked: delivered again after 1 s).
        os.kill(pids["receipt"][0], signal.SIGKILL)
        async with httpx.AsyncClient(base_url=payment_url, trust_env=False, timeout=30) as http:
            await _post(http, range(N // 3, 2 * N // 3))
        # The payment worker dies with events in its outbox, not yet relayed: its next run relays them.
        os.kill(pids["payment"][0], signal.SIGKILL)
        await supervised.restarted("payment", pids["payment"][0])
        await supervised.restarted("receipt", pids["receipt"][0])
        await wait_until(lambda: _healthy(payment_url), timeout=30, interval=0.1, what="the payment API again")
        async with httpx.AsyncClient(base_url=payment_url, trust_env=False, timeout=30) as http:
            await _post(http, range(2 * N // 3, N))

        async with landscape.counts() as counts:

            async def all_received() -> dict[str, int] | None:
                receipts = await counts.receipts()
                return receipts if len(receipts) >= N else None

            receipts = await wait_until(all_received, timeout=120, interval=0.2, what=f"{N} receipts")
            assert await _healthy(receipt_url)
            supervised.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(supervised.proc.wait, 60)
            assert code == 0, supervised.output()
            everyone = [pid for run in supervised.running().values() for pid in run]
            assert len(everyone) == 4
            assert not [pid for pid in everyone if _alive(pid)]

            assert sorted(receipts) == [f"P{i:05d}" for i in range(N)]
            assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
            assert await counts.payments() == N
            assert await counts.outbox() == 0
            assert await counts.dead_letters() == 0
    finally:
        supervised.close()


@pytest.mark.faults
@pytest.mark.parametrize(("store_url", "broker_url"), [("sqlite", "embedded")], indirect=True)
async def test_a_worker_that_cannot_start_stops_the_others_and_the_parent_exits_non_zero(
    landscape: Landscape,
) -> None:
    """A worker whose broker is not there (no start-up wait) exits before it runs: the parent stops the
    other worker and exits with the failed worker's code."""
    broken = Landscape(landscape.store, "nats://127.0.0.1:1", landscape.folder)
    supervised = Supervised(broken, "--startup-timeout", "0")
    try:
        code = await asyncio.to_thread(supervised.proc.wait, 60)
        assert code == 2, supervised.output()
        assert "before it was running" in supervised.output()
        started = [int(pid) for pid in re.findall(r"worker \w+ started \(pid (\d+)\)", supervised.output())]
        assert len(started) == 2
        assert not [pid for pid in started if _alive(pid)]
    finally:
        supervised.close()


@pytest.mark.faults
@pytest.mark.parametrize(("store_url", "broker_url"), [("sqlite", "embedded")], indirect=True)
async def test_workers_stop_when_their_parent_is_killed(landscape: Landscape) -> None:
    """The parent killed with SIGKILL leaves no orphan: each worker sees its link close and stops gracefully."""
    supervised = Supervised(landscape)
    try:
        pids = await wait_until(
            lambda: (supervised.proc.poll() is None or pytest.fail(supervised.output()))
            and (p if len(p := supervised.running()) == 2 else None),
            timeout=60, interval=0.1, what="both workers to run",
        )  # fmt: skip
        supervised.proc.kill()
        supervised.proc.wait()
        workers = [run[0] for run in pids.values()]
        await wait_until(
            lambda: not [pid for pid in workers if _alive(pid)] or None, timeout=60, interval=0.1,
            what="the orphaned workers to stop",
        )  # fmt: skip
        assert "the supervising process is gone: stopping" in supervised.output()
    finally:
        supervised.close()
