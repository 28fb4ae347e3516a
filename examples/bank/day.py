"""A scripted day at the reference bank: all six domains in one process, on any store and broker.

Customers arrive by file, loan requests over real HTTP (the domains' APIs served by uvicorn in this process,
the way ``interlink run --http`` serves them), credit is reserved and released, SMS go out, a customer moves,
the mainframe's repayments extract arrives. Each step is narrated naming the pattern at work; at the end the
domains' stores are counted and compared with what the script put in.

The day only reaches the bank the way outside systems do: HTTP to each domain's API, files dropped into the
inbound directories, and (for the counts) each domain's store. So :func:`run_day` hosts the six domains in
this process and drives them, and :func:`run_day_against` drives six domains already running elsewhere
(``interlink run examples.bank.<module> --http ...``, one process each).

Not in the day yet (their patterns are built elsewhere and wired in later): the deferred update of
``risk_assessment``, ``credit_offer``'s replica, the ``SendSms`` command event with its ``SmsSent`` reply and
an SMS service outage, and the loan origination saga that compensates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from examples.bank import DOMAINS
from examples.bank.credit_offer import DEFAULT_LIMIT
from examples.bank.customer import INBOUND_DIRECTORY as CUSTOMER_FILES
from examples.bank.files import DroppedFile, customer_id, customers_csv, drop, repayments_extract
from examples.bank.payments import INBOUND_DIRECTORY as PAYMENT_FILES
from examples.bank.tally import Count, count_aggregates
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.inbound_file.reports import REPORT
from interlink.ports.store import Store
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.runtime.http import HttpEndpoint, make_server

__all__ = ["DayFailed", "DayPlan", "DayResult", "Landscape", "Narrator", "run_day", "run_day_against"]

T = TypeVar("T")

#: (pattern, domain, what happened)
Narrator = Callable[[str, str, str], None]


class DayFailed(Exception):
    """A step of the day did not happen: an API answered otherwise than planned, or a wait ran out."""


@dataclass(frozen=True)
class DayPlan:
    """How much happens in the day. Each loan request goes to a different customer."""

    customers: int = 100
    loans: int = 12
    repayments: int = 50
    day: date = date(2026, 11, 25)
    #: Seconds each wait (a file ingested, events handled) may take.
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if not 3 <= self.loans <= self.customers or self.repayments < 1:
            raise ValueError("a day needs 3 <= loans <= customers and at least one repayment")


@dataclass
class DayResult:
    """The counts (expected by the script, found in the stores) and how long the day took."""

    counts: list[Count]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every store holds exactly what the script put in."""
        return all(c.ok for c in self.counts)


@dataclass(frozen=True)
class Landscape:
    """Where the day reaches the bank: each domain's API base URL and store (by domain name), and the working
    directory of the processes, under which the inbound directories are."""

    urls: Mapping[str, str]
    stores: Mapping[str, Store]
    workdir: Path


async def run_day(
    workdir: Path,
    *,
    store_url: str | None = None,
    broker_url: str | None = None,
    plan: DayPlan | None = None,
    narrate: Narrator = lambda pattern, domain, text: None,
) -> DayResult:
    """Run the day with ``workdir`` as working directory (the inbound directories are relative to it); the
    stores and broker default to SQLite files there (the embedded default)."""
    workdir = await asyncio.to_thread(_prepared, workdir)
    root = FastAPI(title="The reference bank", docs_url=None, redoc_url=None)
    server, sock = make_server(root, HttpEndpoint("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        store_url=store_url or f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=broker_url or f"sqlite:///{workdir}/broker.db",
        service_urls={"customer": f"{base}/customer"},
        relay_poll_interval=0.2,
        fetch_wait=0.2,
    )
    started = time.perf_counter()
    with contextlib.closing(sock), contextlib.chdir(workdir):
        async with Runtime(DOMAINS, settings) as rt:
            for domain in DOMAINS:
                root.mount(f"/{domain.name}", build_api(domain, _getter(rt[domain.name]), ApiSettings()))
            land = Landscape(
                {d.name: f"{base}/{d.name}" for d in DOMAINS}, {d.name: rt[d.name].store for d in DOMAINS}, workdir
            )
            async with _serving(server, sock):
                narrate("API Exposure", "all six", f"the domains' APIs are served at {base}/<domain>")
                counts = await _drive(land, plan or DayPlan(), narrate)
    return DayResult(counts, time.perf_counter() - started)


async def run_day_against(
    workdir: Path,
    urls: Mapping[str, str],
    store_url: str,
    *,
    plan: DayPlan | None = None,
    narrate: Narrator = lambda pattern, domain, text: None,
) -> DayResult:
    """Drive the six domains running in other processes: ``urls`` maps each domain name to its API's base URL,
    ``workdir`` is their working directory, ``store_url`` (with ``{domain}``) where their stores are."""
    missing = sorted({d.name for d in DOMAINS} - set(urls))
    if missing:
        raise DayFailed(f"no API URL for domain(s) {missing}")
    started = time.perf_counter()
    stores = {d.name: open_store(store_url, d.name) for d in DOMAINS}
    async with contextlib.AsyncExitStack() as stack:
        for store in stores.values():
            await stack.enter_async_context(store)
        land = Landscape(urls, stores, await asyncio.to_thread(_prepared, workdir))
        counts = await _drive(land, plan or DayPlan(), narrate)
    return DayResult(counts, time.perf_counter() - started)


async def _drive(land: Landscape, plan: DayPlan, narrate: Narrator) -> list[Count]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        return await _Day(land, http, plan, narrate).run()


def _getter(runtime: DomainRuntime) -> Callable[[], DomainRuntime]:
    return lambda: runtime


def _prepared(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir.resolve()


async def _eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:  # noqa: ASYNC109
    """The first value ``check`` returns that is not None; DayFailed naming ``what`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while (value := await check()) is None:
        if time.monotonic() > deadline:
            raise DayFailed(f"the day waited {timeout:g}s for {what}")
        await asyncio.sleep(0.1)
    return value


@contextlib.asynccontextmanager
async def _serving(server: uvicorn.Server, sock: Any) -> AsyncIterator[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bank-http")
    try:
        await _eventually(lambda: _true(server.started or task.done()), 15, "the HTTP server to start")
        if task.done():
            task.result()
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


async def _true(condition: bool) -> bool | None:
    return True if condition else None


class _Day:
    """The day's steps, in order; ``run`` returns the counts read from the stores afterwards."""

    def __init__(self, land: Landscape, http: httpx.AsyncClient, plan: DayPlan, narrate: Narrator) -> None:
        self.land, self.http, self.plan, self.narrate = land, http, plan, narrate
        self.loans = [(f"L{i:04d}", customer_id(i), 3_000 + 1_000 * i) for i in range(plan.loans)]
        # A second loan for the first customer, beyond what is left of the limit: refused.
        self.over_limit = (f"L{plan.loans:04d}", customer_id(0), DEFAULT_LIMIT - 1_000)
        self.withdrawn = self.loans[1][0]
        self.mover = customer_id(2)
        #: The file id of each domain's file, from its report.
        self.files: dict[str, str] = {}

    async def run(self) -> list[Count]:
        await self.customers_by_file()
        await self.loan_requests_by_api()
        await self.credit_reservations()
        await self.offer_sms()
        await self.address_change()
        await self.repayments_extract()
        return await self.settle()

    # -- the steps ---------------------------------------------------------------------------------

    async def customers_by_file(self) -> None:
        file = customers_csv(self.plan.day, self.plan.customers, bad_at=3)
        await self._ingest("customer", CUSTOMER_FILES, file, "rows", "a bad e-mail")
        await self._wait_count(
            "loan-request",
            "CreditFile",
            self.plan.customers,
            "Event capture",
            "credit files opened on CustomerRegistered",
        )
        await self._wait_count(
            "risk-assessment", "CustomerProfile", self.plan.customers, "State Change Notification",
            "profiles fetched back over HTTP on the thin CustomerChanged",
        )  # fmt: skip

    async def loan_requests_by_api(self) -> None:
        async def submit(loan_id: str, cid: str, amount: int) -> None:
            body = {"id": loan_id, "customer_id": cid, "amount": amount, "term_months": 60, "purpose": "car"}
            await self._call("POST", "loan-request", "/loan-requests", body)

        await asyncio.gather(*(submit(*loan) for loan in [*self.loans, self.over_limit]))
        self.narrate(
            "API Exposure", "loan-request", f"{len(self.loans) + 1} loan requests submitted: POST /loan-requests"
        )
        await self._wait_count(
            "credit-offer", "LoanRequestCopy", len(self.loans) + 1, "Event-Carried State Transfer",
            "loan requests copied from the fat LoanRequestChanged",
        )  # fmt: skip

    async def credit_reservations(self) -> None:
        for loan_id, _, _ in self.loans:
            await self._call("POST", "credit-offer", "/credit-offers", {"loan_request_id": loan_id})
        self.narrate("API Exposure", "credit-offer", f"credit reserved for {len(self.loans)} loan requests")
        refused = await self._call(
            "POST", "credit-offer", "/credit-offers", {"loan_request_id": self.over_limit[0]}, 422
        )
        self.narrate("API Exposure", "credit-offer", f"refused with 422: {refused['detail']}")
        await self._call("POST", "credit-offer", f"/credit-offers/{self.withdrawn}/release", {})
        self.narrate("API Exposure", "credit-offer", f"{self.withdrawn} withdrawn: its reservation released")

    async def offer_sms(self) -> None:
        offered = [loan for loan in self.loans if loan[0] != self.withdrawn]
        for loan_id, cid, amount in offered:
            person = await self._call("GET", "customer", f"/customers/{cid}")
            text = f"Dear {person['name']}, your credit of EUR {amount} for loan request {loan_id} is reserved."
            sms = {"id": f"offer-{loan_id}", "customer_id": cid, "phone": person["phone"], "text": text}
            await self._call("POST", "customer-communication", "/sms", sms)
        self.narrate(
            "API Exposure",
            "customer-communication",
            f"{len(offered)} offer SMS sent (phone read from the customer API)",
        )

    async def address_change(self) -> None:
        address = {"street": "Grote Markt 1", "postcode": "9711 LV", "city": "Groningen"}
        await self._call("PUT", "customer", f"/customers/{self.mover}/address", address)
        self.narrate(
            "API Exposure", "customer", f"{self.mover} moves to Groningen: PUT /customers/{self.mover}/address"
        )
        store = self.land.stores["risk-assessment"]

        async def moved() -> bool | None:
            found = await store.load("CustomerProfile", self.mover)
            return True if found is not None and json.loads(found.data)["city"] == "Groningen" else None

        await _eventually(moved, self.plan.timeout, f"risk assessment to see {self.mover} move")
        self.narrate(
            "State Change Notification", "risk-assessment", "CustomerChanged -> fetched back: now in Groningen"
        )
        score = await self._call("GET", "risk-assessment", f"/scores/{self.mover}", params={"amount": 15_000})
        self.narrate("API Exposure", "risk-assessment", f"score {score['score']} ({'; '.join(score['reasons'])})")

    async def repayments_extract(self) -> None:
        loans = [(loan_id, cid) for loan_id, cid, _ in self.loans if loan_id != self.withdrawn]
        file = repayments_extract(self.plan.day, loans, self.plan.repayments, bad_at=4)
        await self._ingest("payments", PAYMENT_FILES, file, "lines", "an impossible value date")

    # -- the summary -------------------------------------------------------------------------------

    async def counts(self) -> list[Count]:
        """What the stores hold now, beside what the script put in."""
        plan, loans = self.plan, len(self.loans)

        async def count(domain: str, kind: str, **where: str | int) -> int:
            return await count_aggregates(self.land.stores[domain], kind, **where)

        async def rejected(domain: str, name: str) -> int:
            record = await self.land.stores[domain].inbound_file(self.files[name])
            return record.rejected if record is not None else -1

        copies, offers = await count("credit-offer", "LoanRequestCopy"), await count("credit-offer", "CreditOffer")
        dead = sum([len(await self.land.stores[d.name].dead_letters()) for d in DOMAINS])
        return [
            Count("Inbound File", "customer", "customers registered from the branch file", plan.customers,
                  await count("customer", "Customer", channel="branch-file")),
            Count("Inbound File", "customer", "branch file rows rejected", 1, await rejected("customer", "customer")),
            Count("Event capture", "loan-request", "credit files opened on CustomerRegistered", plan.customers,
                  await count("loan-request", "CreditFile")),
            Count("API Exposure", "loan-request", "loan requests submitted", loans + 1,
                  await count("loan-request", "LoanRequest")),
            Count("Event-Carried State Transfer", "credit-offer", "loan requests copied from LoanRequestChanged",
                  loans + 1, copies),
            Count("API Exposure", "credit-offer", "credit offers reserved", loans - 1,
                  await count("credit-offer", "CreditOffer", status="reserved")),
            Count("API Exposure", "credit-offer", "credit offers released", 1,
                  await count("credit-offer", "CreditOffer", status="released")),
            Count("API Exposure", "credit-offer", "loan requests refused over the limit", 1, copies - offers),
            Count("State Change Notification", "risk-assessment", "customer profiles fetched back", plan.customers,
                  await count("risk-assessment", "CustomerProfile")),
            Count("State Change Notification", "risk-assessment", "address changes seen", 1,
                  await count("risk-assessment", "CustomerProfile", customer_version=2)),
            Count("API Exposure", "customer-communication", "SMS sent", loans - 1,
                  await count("customer-communication", "Sms")),
            Count("Inbound File", "payments", "repayments booked from the extract", plan.repayments,
                  await count("payments", "Repayment")),
            Count("Inbound File", "payments", "extract lines rejected", 1, await rejected("payments", "payments")),
            Count("Delivery", "all six", "dead letters", 0, dead),
        ]  # fmt: skip

    async def settle(self) -> list[Count]:
        """Wait until the stores hold what was put in (or the timeout passes), then count once more."""
        with contextlib.suppress(DayFailed):
            return await _eventually(self._all_match, self.plan.timeout, "the stores to match the day")
        return await self.counts()

    async def _all_match(self) -> list[Count] | None:
        counts = await self.counts()
        return counts if all(c.ok for c in counts) else None

    # -- helpers -----------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        domain: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = await self.http.request(method, self.land.urls[domain] + path, json=body, params=params)
        if response.status_code != expect:
            raise DayFailed(f"{method} {path} answered {response.status_code}, not {expect}: {response.text}")
        return response.json()

    async def _ingest(self, domain: str, directory: str, file: DroppedFile, unit: str, bad: str) -> None:
        self.narrate(
            "Inbound File", domain,
            f"{file.name} arrives: {file.good + 1} {unit}, the one on line {file.bad_line} with {bad}",
        )  # fmt: skip
        folder = self.land.workdir / directory
        await asyncio.to_thread(drop, folder, file)
        where, report = await _eventually(
            lambda: asyncio.to_thread(_final_report, folder, file.name), self.plan.timeout, f"{file.name} ingested"
        )
        self.files[domain] = report["file_id"]
        self.narrate("Inbound File", domain, f"{file.name} {report['outcome']}: {report['accepted']} accepted, "
                     f"{report['rejected']} rejected")  # fmt: skip
        if report.get("rejects_file"):
            rejects = await asyncio.to_thread((where / report["rejects_file"]).read_text, encoding="utf-8")
            for line in rejects.splitlines():
                reject = json.loads(line)
                self.narrate("Inbound File", domain, f"rejected line {reject['line']}: {reject['reason']}")

    async def _wait_count(self, domain: str, kind: str, expected: int, pattern: str, what: str) -> None:
        store = self.land.stores[domain]

        async def reached() -> bool | None:
            return True if await count_aggregates(store, kind) >= expected else None

        await _eventually(reached, self.plan.timeout, f"{expected} {kind} in {domain}")
        self.narrate(pattern, domain, f"{expected} {what}")


def _final_report(folder: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """The report the intake wrote beside a finished file (in archive/ or failed/), and where it is."""
    for final in ("archive", "failed"):
        for path in (folder / final).glob(f"*--{name}{REPORT}"):
            return path.parent, json.loads(path.read_text(encoding="utf-8"))
    return None
