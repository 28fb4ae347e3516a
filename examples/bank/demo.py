"""The main job: run the bank landscape on the embedded default and check that every event got through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from examples.bank import DOMAINS
from examples.bank.customer import register_customer
from examples.bank.loan_request import CreditFile, get_credit_file
from interlink.exceptions import NotFoundError
from interlink.runtime import Runtime, Settings

Progress = Callable[[str, int], None]


@dataclass
class DemoReport:
    """What went in and what came out."""

    customers_registered: int
    events_relayed: int
    events_handled: int
    credit_files_found: int
    duplicates_skipped: int
    dead_letters: int
    seconds: float


async def run_demo(workdir: Path, customers: int, progress: Progress = lambda step, n: None) -> DemoReport:
    """Register ``customers`` customers; the loan domain must open exactly one credit file for each."""
    settings = Settings(
        store_url=f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=f"sqlite:///{workdir}/broker.db",
        relay_poll_interval=0.2,
        fetch_wait=0.2,
    )
    started = time.perf_counter()
    async with Runtime(DOMAINS, settings) as rt:
        customer, loans = rt["customer"], rt["loan-request"]

        async def register(i: int) -> None:
            await customer.execute(
                register_customer,
                {"id": f"C{i:05d}", "name": f"Customer {i}", "email": f"c{i}@example.org"},
            )
            progress("registered", 1)

        await asyncio.gather(*(register(i) for i in range(customers)))
        handled = 0
        deadline = time.monotonic() + 60
        while handled < customers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = sum(c.stats.processed for c in loans.consumers)
            progress("handled", now - handled)
            handled = now
        found = 0
        for i in range(customers):
            try:
                credit_file: CreditFile = await loans.query(get_credit_file, id=f"C{i:05d}")
                found += credit_file.id == f"C{i:05d}"
            except NotFoundError:
                pass
        stats = [c.stats for c in loans.consumers]
        dead = len(await loans.store.dead_letters())
        return DemoReport(
            customers_registered=customers,
            events_relayed=customer.relay.published,
            events_handled=handled,
            credit_files_found=found,
            duplicates_skipped=sum(s.duplicates for s in stats),
            dead_letters=dead,
            seconds=time.perf_counter() - started,
        )
