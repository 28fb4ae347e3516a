"""The reference bank's day (examples/bank) on the test kit's Landscape: six domains in memory, in-process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from examples.bank import DOMAINS
from examples.bank.customer_communication import customer_communication
from examples.bank.script import DayPlan, Outage, Script
from examples.bank.script import Landscape as Bank
from examples.bank.script_steps import play

from interlink.testing import Landscape


async def test_the_day_runs_on_a_landscape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted day, SMS outage included, against a Landscape: every store holds what the day put in,
    and once it settles nothing is left in any outbox or subscription."""
    monkeypatch.chdir(tmp_path)  # the bank's inbound directories are relative to the working directory
    plan = DayPlan(customers=12, loans=4, repayments=8, moves=20, timeout=30)
    async with Landscape(DOMAINS) as land:
        outage = Outage(lambda: land.stop(customer_communication), lambda: land.start(customer_communication))
        bank = Bank({d.name: f"http://{d.name}" for d in DOMAINS}, {d.name: land.store(d) for d in DOMAINS},
                    tmp_path, outage)  # fmt: skip
        async with httpx.AsyncClient(transport=land.services) as http:
            counts = await play(Script(bank, http, plan, lambda pattern, domain, text: None))
        await land.settle()
        assert await land.busy() == []
    assert [c for c in counts if not c.ok] == []
    found = {f"{c.domain}: {c.what}": c.found for c in counts}
    total = plan.loans + 2 + plan.outage_loans
    assert found["customer-communication: SMS sent exactly once"] == 2 * total
    assert found["loan-request: loan originations compensated"] == 2
    assert found["all six: dead letters"] == 0
