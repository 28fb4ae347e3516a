"""The reference bank as six processes: each domain in its own `interlink run ... --http`, over PostgreSQL and
RabbitMQ, driven through real HTTP and inbound files by the same scripted day as `interlink demo`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from examples.bank.day import DayPlan, Outage, run_day_against

from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
MODULES = {
    "customer": "customer",
    "loan-request": "loan_request",
    "credit-offer": "credit_offer",
    "risk-assessment": "risk_assessment",
    "customer-communication": "customer_communication",
    "payments": "payments",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The six domains, one `interlink run` process each, working in ``workdir``: their API URLs, and the
    SMS service's outage (its process stopped with SIGTERM, then started again on the same port)."""

    def __init__(self, backends: Backends, workdir: Path) -> None:
        self.backends, self.workdir = backends, workdir
        self.urls = {name: f"http://127.0.0.1:{_free_port()}" for name in MODULES}
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "INTERLINK_SERVICE_CUSTOMER_URL": self.urls["customer"]}
        self.running: dict[str, subprocess.Popen[str]] = {}
        #: Output of every process that ended, and its exit code.
        self.ended: list[tuple[str, int | None, str]] = []

    def start(self, name: str) -> None:
        self.running[name] = subprocess.Popen(
            [INTERLINK, "run", f"examples.bank.{MODULES[name]}", "--store", self.backends.store, "--broker",
             self.backends.broker, "--http", self.urls[name].removeprefix("http://"), "--log-level", "warning"],
            cwd=self.workdir, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def stop(self, name: str) -> None:
        proc = self.running.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        self.ended.append((name, proc.wait(timeout=60), proc.communicate()[0]))

    def outage(self) -> Outage:
        name = "customer-communication"

        async def stop() -> None:
            await asyncio.to_thread(self.stop, name)

        async def start() -> None:
            self.start(name)
            await _healthy({name: self.urls[name]})

        return Outage(stop, start)


@pytest.fixture
def processes(backends: Backends, tmp_path: Path) -> Iterator[Processes]:
    """The six processes; each is stopped with SIGTERM afterwards and must have exited 0."""
    running = Processes(backends, tmp_path)
    try:
        for name in MODULES:
            running.start(name)
        yield running
    finally:
        for name in list(running.running):
            running.stop(name)
    failed = [(name, output) for name, code, output in running.ended if code != 0]
    assert not failed, failed


async def _healthy(urls: dict[str, str]) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:

        async def answering() -> bool | None:
            try:
                answers = [await http.get(f"{url}/healthz") for url in urls.values()]
            except httpx.TransportError:
                return None
            return True if all(a.status_code == 200 for a in answers) else None

        await wait_until(answering, timeout=60, interval=0.1, what="the six domains to answer /healthz")


@pytest.mark.parametrize(("store_url", "broker_url"), [("postgres", "rabbitmq")], indirect=True)
async def test_the_day_across_six_processes_gives_the_same_counts(
    processes: Processes, backends: Backends, tmp_path: Path
) -> None:
    """The day driven against six separate processes (the SMS service's process stopped and started again):
    every store holds what the day put in, as in one process; command events and replies go over the broker."""
    await _healthy(processes.urls)
    plan = DayPlan(customers=12, loans=4, repayments=8, moves=20)
    told: list[str] = []
    outage, narrate = processes.outage(), lambda *line: told.append(line[2])
    result = await run_day_against(tmp_path, processes.urls, backends.store, outage, plan=plan, narrate=narrate)
    mismatches = [c for c in result.counts if not c.ok]
    assert not mismatches, mismatches
    assert len(result.counts) == 23
    assert "the SMS service is back" in told
    assert [name for name, _, _ in processes.ended] == ["customer-communication"]
