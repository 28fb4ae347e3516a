"""A notification source that is down: the bank's customer and loan-request domains as two real processes
(``interlink run ... --http``), the customer process SIGKILLed and started again. No notification is parked,
every copy ends at the source's last version.

The loan-request domain keeps a ``Borrower`` per customer from ``CustomerChanged`` notifications, fetching
the customer back over HTTP through its External Service adapter and its circuit breaker (5 failures open
it). Before retries were judged by error class, a source down for a few seconds parked every notification:
the open circuit refused the fetches faster than the five attempts' backoff could wait.

The processes run on a shorter time scale than the defaults (``SCALE``): the circuit stays open 10 s instead
of 30 s and the backoff tops out at 10 s instead of 30 s. The five attempts' backoff still sums to at most
7.5 s (the default base delay, untouched), under one cooldown, so a failure of the open circuit taken for the
notification's own would still park every notification; and an outage still lasts several cooldowns.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from interlink.ports.store import Store
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
IDS = [f"C{i:02d}" for i in range(10)]
MODULES = {"customer": "examples.bank.customer", "loan-request": "examples.bank.loan_request"}
#: Seconds an open circuit refuses calls (the default is 30), and the largest backoff between two tries.
COOLDOWN = 10.0
#: The time scale of both processes (see the module docstring): the mechanisms fire sooner, the same way.
SCALE = ("--circuit-cooldown", f"{COOLDOWN:g}", "--retry-max-delay", f"{COOLDOWN:g}")
#: How long the source stays down in the outage test: three cooldowns (the backoff reaches its ceiling).
OUTAGE = 3 * COOLDOWN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bank:
    """The two domains, one ``interlink run`` process each, output to files in ``folder``."""

    def __init__(self, backends: Backends, folder: Path, *options: str) -> None:
        self.backends, self.folder, self.options = backends, folder, options
        self.urls = {name: f"http://127.0.0.1:{_free_port()}" for name in MODULES}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")},
            "PYTHONPATH": str(ROOT),
            "INTERLINK_SERVICE_CUSTOMER_URL": self.urls["customer"],
            "COLUMNS": "400",  # log lines unwrapped, so they can be searched
        }
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, list[Path]] = {name: [] for name in MODULES}
        self.exits: list[tuple[str, int]] = []

    def start(self, name: str) -> None:
        log = self.folder / f"{name}-{len(self.logs[name])}.log"
        self.logs[name].append(log)
        command = [
            INTERLINK, "run", MODULES[name], "--store", self.backends.store, "--broker", self.backends.broker,
            "--http", self.urls[name].removeprefix("http://"), "--log-level", "warning", *self.options,
        ]  # fmt: skip
        with log.open("wb") as out:
            self.running[name] = subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=out, stderr=out)

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful stop, whatever it had in hand comes back from the broker."""
        proc = self.running.pop(name)
        proc.kill()
        self.exits.append((name, proc.wait()))

    def pause(self, name: str, paused: bool) -> None:
        """SIGSTOP (or SIGCONT): the process is frozen, holding its connections, until resumed."""
        self.running[name].send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def stop_all(self) -> None:
        for name, proc in list(self.running.items()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            self.exits.append((name, code))
            del self.running[name]

    def log(self, name: str) -> str:
        return self.logs[name][-1].read_text(errors="replace")

    def output(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for ps in self.logs.values() for p in ps
        )

    async def healthy(self, name: str) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:

            async def answering() -> bool:
                if self.running[name].poll() is not None:
                    raise AssertionError(f"{name} ended: {self.output()}")
                try:
                    return (await http.get(f"{self.urls[name]}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(answering, timeout=60, interval=0.1, what=f"{name} to answer /healthz")

    async def customers(self, method: str, version: int) -> None:
        """Register (version 1) or move (later versions) the ten customers through the customer API."""
        async with httpx.AsyncClient(base_url=self.urls["customer"], trust_env=False, timeout=10) as http:
            for id in IDS:
                if method == "register":
                    body = {"id": id, "name": f"Customer {id}", "email": f"{id.lower()}@example.com"}
                    answer = await http.post("/customers", json=body)
                else:
                    body = {"street": f"Street {version}", "postcode": "1011", "city": "Amsterdam"}
                    answer = await http.put(f"/customers/{id}/address", json=body)
                assert answer.status_code in (200, 201), answer.text
                assert answer.json()["version"] == version


async def borrowers(store: Store) -> dict[str, tuple[int, int]]:
    """Customer id -> (customer version copied, times the copy was saved) in the loan-request store."""
    found = {}
    for id in IDS:
        stored = await store.load("Borrower", id)
        if stored is not None:
            found[id] = (int(json.loads(stored.data)["customer_version"]), stored.version)
    return found


async def copies_reach(bank: Bank, store: Store, version: int, within: float) -> None:
    """Wait until every copy is at ``version``; give up early once a notification is parked."""

    async def done_or_hopeless() -> bool:
        if await store.dead_letters():
            return True
        return {v for v, _ in (await borrowers(store)).values()} == {version} and len(await borrowers(store)) == 10

    await wait_until(done_or_hopeless, timeout=within, interval=0.2, what=f"every copy at version {version}")


async def outbox_drained(store: Store) -> None:
    """Every notification the customer domain committed is on the broker."""

    async def drained() -> bool:
        return (await store.outbox_status()).pending == 0

    await wait_until(drained, timeout=60, interval=0.1, what="the customer outbox to drain")


async def check_the_end(bank: Bank, customer: Store, loans: Store) -> None:
    """Zero dead letters in both domains, every copy at version 3, each applied without a repeat."""
    letters = await loans.dead_letters(limit=1000)
    assert letters == [], [f"{d.message_type} {d.error} ({d.error_class}, {d.attempts})" for d in letters]
    assert await customer.dead_letters() == []
    copies = await borrowers(loans)
    assert sorted(copies) == IDS
    assert {v for v, _ in copies.values()} == {3}, copies
    # Saved once per newer version fetched (1, then 2 and/or 3): never more than the three versions.
    assert all(1 <= saves <= 3 for _, saves in copies.values()), copies


@pytest.mark.slow
@pytest.mark.parametrize(("store_url", "broker_url"), [("sqlite", "embedded"), ("postgres", "redis")], indirect=True)
async def test_source_restarted_while_its_consumer_catches_up_parks_nothing(backends: Backends, tmp_path: Path) -> None:
    """Register 10; kill loan-request; move the 10; kill customer; start loan-request; once its circuit to the
    customer API opened, start customer again; move the 10 again: zero dead letters, every copy at version 3."""
    bank = Bank(backends, tmp_path, *SCALE)
    try:
        bank.start("customer")
        bank.start("loan-request")
        await bank.healthy("customer")
        await bank.healthy("loan-request")
        async with (
            open_store(backends.store, "customer") as customer,
            open_store(backends.store, "loan-request") as loans,
        ):
            await bank.customers("register", 1)
            await copies_reach(bank, loans, 1, within=60)
            bank.kill("loan-request")
            await bank.customers("move", 2)
            await outbox_drained(customer)
            bank.kill("customer")
            bank.start("loan-request")
            # The fault is real: loan-request found the source down and its circuit opened.
            await wait_until(
                lambda: "circuit opened" in bank.log("loan-request"),
                timeout=60,
                what="the circuit to the customer API to open",
            )
            bank.start("customer")
            await bank.healthy("customer")
            await bank.customers("move", 3)
            await copies_reach(bank, loans, 3, within=180)
            await check_the_end(bank, customer, loans)
    finally:
        bank.stop_all()
    # The two kills, then both processes stopped gracefully by SIGTERM.
    expected = [("customer", -9), ("customer", 0), ("loan-request", -9), ("loan-request", 0)]
    assert sorted(bank.exits) == expected, bank.output()


@pytest.mark.slow
@pytest.mark.parametrize(("store_url", "broker_url"), [("sqlite", "embedded"), ("postgres", "redis")], indirect=True)
async def test_source_down_for_three_circuit_cooldowns_parks_nothing(backends: Backends, tmp_path: Path) -> None:
    """Ten notifications are on their way (loan-request frozen by SIGSTOP) when the customer process is killed
    for three circuit cooldowns: every fetch fails meanwhile, none is parked, and once it is back every copy
    reaches the last version, none applied twice."""
    bank = Bank(backends, tmp_path, *SCALE)
    try:
        bank.start("customer")
        bank.start("loan-request")
        await bank.healthy("customer")
        await bank.healthy("loan-request")
        async with (
            open_store(backends.store, "customer") as customer,
            open_store(backends.store, "loan-request") as loans,
        ):
            await bank.customers("register", 1)
            await copies_reach(bank, loans, 1, within=60)
            # Frozen, loan-request cannot fetch the moves before the source goes down.
            bank.pause("loan-request", True)
            await bank.customers("move", 2)
            await outbox_drained(customer)
            bank.kill("customer")
            bank.pause("loan-request", False)
            await wait_until(
                lambda: "circuit opened" in bank.log("loan-request"),
                timeout=60,
                what="the circuit to the customer API to open",
            )
            await asyncio.sleep(OUTAGE)  # the outage itself: the source stays down for three cooldowns
            assert await loans.dead_letters() == []
            bank.start("customer")
            await bank.healthy("customer")
            await bank.customers("move", 3)
            await copies_reach(bank, loans, 3, within=180)
            await check_the_end(bank, customer, loans)
    finally:
        bank.stop_all()
    assert sorted(bank.exits) == [("customer", -9), ("customer", 0), ("loan-request", 0)], bank.output()
