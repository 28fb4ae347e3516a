"""The reference bank's scripted day: on the embedded default, on every store x broker pair, and as `interlink demo`.

The day's counts are read from the domains' stores after the day (examples/bank/day.py); these tests check
them against what the plan put in, and the CLI test reads the stores once more on its own.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
from pathlib import Path

from examples.bank.day import DayPlan, DayResult, run_day
from examples.bank.tally import count_aggregates

from interlink.adapters.stores.sqlite import SqliteStore
from tests.integration.conftest import Backends

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
SMALL = DayPlan(customers=12, loans=4, repayments=8, moves=20)


def _found(result: DayResult) -> dict[str, int]:
    return {f"{c.domain}: {c.what}": c.found for c in result.counts}


def _check(result: DayResult, plan: DayPlan) -> None:
    mismatches = [c for c in result.counts if not c.ok]
    assert not mismatches, mismatches
    found = _found(result)
    total = plan.loans + 2 + plan.outage_loans
    assert found["customer: customers registered from the branch file"] == plan.customers
    assert found["loan-request: loan requests submitted"] == total
    assert found["loan-request: loan originations completed"] == total - 2
    assert found["loan-request: loan originations compensated"] == 2
    assert found["credit-offer: reservations released (compensation)"] == 1
    assert found["credit-offer: loan requests replicated"] == total
    assert found["customer-communication: SMS sent exactly once"] == 2 * total
    assert found["loan-request: SmsSent confirmations recorded"] == 2 * total
    assert found["risk-assessment: CustomerChanged received"] == plan.customers + plan.moves
    assert found["risk-assessment: customers fetched (only when scored)"] == plan.loans + 1
    assert found["loan-request: customers fetched back (at most one a change)"] <= plan.customers + plan.moves
    assert found["payments: repayments booked from the extract"] == plan.repayments
    assert found["all six: dead letters"] == 0


async def test_the_day_on_the_embedded_default(tmp_path: Path) -> None:
    """The day on SQLite stores and the SQLite broker: every store holds what the day put in, and it narrates
    every pattern at work."""
    plan = DayPlan(customers=40, loans=8, repayments=20)
    told: list[tuple[str, str, str]] = []
    result = await run_day(tmp_path, plan=plan, narrate=lambda *line: told.append(line))
    _check(result, plan)
    patterns = {pattern for pattern, _, _ in told}
    assert patterns == {
        "Inbound File", "API Exposure", "Event capture", "Event-Carried State Transfer", "State Change Notification",
        "Deferred update", "Saga", "Command event",
    }  # fmt: skip
    texts = [text for _, _, text in told]
    assert "the SMS service stops (outage)" in texts
    assert any(text.startswith("L0009 compensated: ") and "compensation confirmed" in text for text in texts)
    assert any(text.startswith(f"{plan.moves} notifications -> 1 fetch, when scored") for text in texts)
    rejected = [text for pattern, _, text in told if text.startswith("rejected line")]
    assert len(rejected) == 2
    assert rejected[0].startswith("rejected line 5: invalid BranchCustomerRow: email: String should match pattern")
    assert rejected[1] == "rejected line 5: field 'value_date' (columns 47-54): '20261341' is not a date as %Y%m%d"


async def test_the_day_on_every_store_and_broker(backends: Backends, tmp_path: Path) -> None:
    """The same day, smaller, on each store x broker pair: the stores hold what it put in."""
    result = await run_day(tmp_path, store_url=backends.store, broker_url=backends.broker, plan=SMALL)
    _check(result, SMALL)


async def test_interlink_demo_exits_0_and_its_counts_are_in_the_stores(tmp_path: Path) -> None:
    """`interlink demo` exits 0 with its summary; the SQLite stores it leaves hold the counts it printed."""
    workdir = tmp_path / "demo"
    args = ["demo", "--workdir", str(workdir), "--customers", "15", "--loans", "5", "--repayments", "9"]
    args += ["--moves", "30"]
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=180, cwd=ROOT)
    result = await asyncio.to_thread(run, [INTERLINK, *args])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every store holds what the day put in" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout
    assert (workdir / "landscape.html").is_file()
    assert (workdir / "landscape.mmd").read_text(encoding="utf-8").startswith("flowchart LR")
    assert f"{(workdir / 'landscape.html').resolve()}" in result.stdout.replace("\n", "")
    # 5 loans + 2 compensated + 3 during the outage; two SMS each; 5 customers scored
    expected = {"customer": ("Customer", 15), "loan-request": ("LoanRequest", 10),
                "customer-communication": ("Sms", 20), "payments": ("Repayment", 9),
                "risk-assessment": ("CustomerProfile", 5), "credit-offer": ("~replica:loan-requests", 10)}  # fmt: skip
    for domain, (kind, count) in expected.items():
        async with SqliteStore(f"sqlite:///{workdir}/{domain}.db", domain=domain) as store:
            assert await count_aggregates(store, kind) == count, (domain, kind)
