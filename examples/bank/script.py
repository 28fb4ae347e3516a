"""The scripted day's steps, in order, each narrated with the pattern at work; then the stores counted.

The script reaches the bank only the way outside systems do: HTTP to each domain's API, files dropped into
the inbound directories, and (to count, and to wait for asynchronous work) each domain's store. The SMS
service's outage is done through an :class:`Outage`, which stops and starts ``customer_communication``
wherever it runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx

from examples.bank.credit_offer import DEFAULT_LIMIT, MAX_TERM_MONTHS
from examples.bank.customer import INBOUND_DIRECTORY as CUSTOMER_FILES
from examples.bank.files import DroppedFile, customer_id, customers_csv, drop, repayments_extract
from examples.bank.loan_request import loan_request
from examples.bank.payments import INBOUND_DIRECTORY as PAYMENT_FILES
from examples.bank.risk_assessment import risk_assessment
from examples.bank.tally import count_aggregates, figures
from interlink.patterns.command_events.sagas import SAGA_KIND
from interlink.patterns.inbound_file.reports import REPORT
from interlink.ports.store import Store

__all__ = ["DayFailed", "DayPlan", "Landscape", "Narrator", "Outage", "Script"]

T = TypeVar("T")

#: (pattern, domain, what happened)
Narrator = Callable[[str, str, str], None]
REPLICA = "~replica:loan-requests"
ENDED = ("completed", "compensated", "failed")


class DayFailed(Exception):
    """A step of the day did not happen: an API answered otherwise than planned, or a wait ran out."""


@dataclass(frozen=True)
class DayPlan:
    """How much happens in the day. Each loan request goes to a different customer, except the two the
    origination saga compensates; ``outage_loans`` more are submitted while the SMS service is down."""

    customers: int = 100
    loans: int = 12
    repayments: int = 50
    #: How often the moving customer's address changes (each a notification).
    moves: int = 100
    outage_loans: int = 3
    day: date = date(2026, 11, 25)
    #: Seconds each wait (a file ingested, events handled) may take.
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.loans < 3 or self.loans + self.outage_loans > self.customers or self.repayments < 1:
            raise ValueError("a day needs 3 <= loans, loans + outage_loans <= customers and one repayment")
        if self.moves < 1 or self.outage_loans < 1:
            raise ValueError("a day needs at least one move and one loan request during the outage")


@dataclass(frozen=True)
class Outage:
    """Stops and starts the SMS service (``customer_communication``) wherever it runs."""

    stop: Callable[[], Awaitable[None]]
    start: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Landscape:
    """Where the day reaches the bank: each domain's API base URL and store (by domain name), the working
    directory of the processes (the inbound directories are under it), and the SMS service's outage."""

    urls: Mapping[str, str]
    stores: Mapping[str, Store]
    workdir: Path
    outage: Outage


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:  # noqa: ASYNC109
    """The first value ``check`` returns that is not None; DayFailed naming ``what`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while (value := await check()) is None:
        if time.monotonic() > deadline:
            raise DayFailed(f"the day waited {timeout:g}s for {what}")
        await asyncio.sleep(0.1)
    return value


@dataclass
class Script:
    """What the day's steps share: the landscape, the plan, the loan requests it submits, and helpers
    (the steps are in :mod:`examples.bank.script_steps`, the counts in :mod:`examples.bank.script_counts`)."""

    land: Landscape
    http: httpx.AsyncClient
    plan: DayPlan
    narrate: Narrator
    #: The file id of each domain's file, from its report.
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        plan = self.plan
        self.loans = [(f"L{i:04d}", customer_id(i), 3_000 + 1_000 * i, 60) for i in range(plan.loans)]
        # A second loan for the first customer, beyond what is left of its limit: refused at step 1.
        self.over_limit = (f"L{plan.loans:04d}", customer_id(0), DEFAULT_LIMIT - 1_000, 60)
        # A second loan for the second customer, for too long a term: reserved, refused at step 2, released.
        self.too_long = (f"L{plan.loans + 1:04d}", customer_id(1), 2_000, MAX_TERM_MONTHS + 60)
        self.during_outage = [(f"L{plan.loans + 2 + i:04d}", customer_id(plan.loans + i), 4_000, 48)
                              for i in range(plan.outage_loans)]  # fmt: skip
        self.mover = customer_id(2)

    @property
    def total(self) -> int:
        """Loan requests submitted in the day."""
        return self.plan.loans + 2 + self.plan.outage_loans

    # -- helpers the steps share --------------------------------------------------------------------

    async def call(self, method: str, domain: str, path: str, body: Any = None, expect: int = 200,
                   params: dict[str, Any] | None = None) -> Any:  # fmt: skip
        """One API call; DayFailed unless it answers ``expect``."""
        response = await self.http.request(method, self.land.urls[domain] + path, json=body, params=params)
        if response.status_code != expect:
            raise DayFailed(f"{method} {path} answered {response.status_code}, not {expect}: {response.text}")
        return response.json()

    async def count(self, domain: str, kind: str, **where: str | int) -> int:
        """Aggregates (or framework records) of ``kind`` in ``domain``'s store."""
        return await count_aggregates(self.land.stores[domain], kind, **where)

    async def wait_count(self, domain: str, kind: str, expected: int, what: str, **where: str | int) -> None:
        """Wait until ``domain``'s store holds ``expected`` of ``kind``."""

        async def reached() -> bool | None:
            return True if await self.count(domain, kind, **where) >= expected else None

        await eventually(reached, self.plan.timeout, f"{expected} {what} in {domain}")

    async def sagas_ended(self) -> int:
        """Loan origination sagas that ended, whichever way."""
        return sum([await self.count("loan-request", SAGA_KIND, status=status) for status in ENDED])

    async def notified(self, domain: str) -> tuple[int, int, int]:
        """(notifications received, fetches, pending flags) of ``domain``'s customer subscription."""
        owner = loan_request if domain == "loan-request" else risk_assessment
        found = await figures(self.land.stores[domain], owner, "customers")
        return found.received, found.fetches, found.pending

    async def ingest(self, domain: str, directory: str, file: DroppedFile, unit: str, bad: str) -> None:
        """Drop ``file`` into ``domain``'s inbound directory and narrate its report."""
        self.narrate(
            "Inbound File",
            domain,
            f"{file.name} arrives: {file.good + 1} {unit}, the one on line {file.bad_line} with {bad}",
        )
        folder = self.land.workdir / directory
        await asyncio.to_thread(drop, folder, file)
        where, report = await eventually(
            lambda: asyncio.to_thread(_final_report, folder, file.name), self.plan.timeout, f"{file.name} ingested"
        )
        self.files[domain] = report["file_id"]
        self.narrate(
            "Inbound File",
            domain,
            f"{file.name} {report['outcome']}: {report['accepted']} accepted, {report['rejected']} rejected",
        )
        if report.get("rejects_file"):
            rejects = await asyncio.to_thread((where / report["rejects_file"]).read_text, encoding="utf-8")
            for line in rejects.splitlines():
                reject = json.loads(line)
                self.narrate("Inbound File", domain, f"rejected line {reject['line']}: {reject['reason']}")


def customers_file(plan: DayPlan) -> tuple[str, DroppedFile]:
    """The branch system's customer file of the day, and the inbound directory it goes to."""
    return CUSTOMER_FILES, customers_csv(plan.day, plan.customers, bad_at=3)


def repayments_file(plan: DayPlan, loans: list[tuple[str, str]]) -> tuple[str, DroppedFile]:
    """The mainframe's repayments extract of the day, and the inbound directory it goes to."""
    return PAYMENT_FILES, repayments_extract(plan.day, loans, plan.repayments, bad_at=4)


def _final_report(folder: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """The report the intake wrote beside a finished file (in archive/ or failed/), and where it is."""
    for final in ("archive", "failed"):
        for path in (folder / final).glob(f"*--{name}{REPORT}"):
            return path.parent, json.loads(path.read_text(encoding="utf-8"))
    return None
