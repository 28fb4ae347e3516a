"""The reference bank as six processes: each domain in its own `interlink run ... --http`, over PostgreSQL and
RabbitMQ, driven through real HTTP and inbound files by the same scripted day as `interlink demo`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from examples.bank.day import DayPlan, run_day_against

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


@pytest.fixture
def processes(backends: Backends, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The six domains, one `interlink run` process each, working in ``tmp_path``; yields their API URLs.
    Each is stopped with SIGTERM afterwards and must exit 0."""
    urls = {name: f"http://127.0.0.1:{_free_port()}" for name in MODULES}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INTERLINK_SERVICE_CUSTOMER_URL": urls["customer"]}
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, module in MODULES.items():
            started[name] = subprocess.Popen(
                [INTERLINK, "run", f"examples.bank.{module}", "--store", backends.store, "--broker", backends.broker,
                 "--http", urls[name].removeprefix("http://"), "--log-level", "warning"],
                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        yield urls
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        outputs = {name: proc.communicate(timeout=60)[0] for name, proc in started.items()}
    failed = {name: outputs[name] for name, proc in started.items() if proc.returncode != 0}
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
    processes: dict[str, str], backends: Backends, tmp_path: Path
) -> None:
    """The day driven against six separate processes: every store holds what the day put in, as in one process."""
    await _healthy(processes)
    plan = DayPlan(customers=12, loans=4, repayments=8)
    result = await run_day_against(tmp_path, processes, backends.store, plan=plan)
    mismatches = [c for c in result.counts if not c.ok]
    assert not mismatches, mismatches
    assert len(result.counts) == 14
