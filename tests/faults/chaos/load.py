"""The chaos run's load, through the bank's public interfaces only: branch files of customers dropped into the
customer domain's inbound directory, loan requests and address changes over HTTP (each under its own
Idempotency-Key, sent again until acknowledged). It remembers what it asked for, so the checker can say
what must be in the stores.

Loan requests go to customers the loan-request domain knows (their ``Borrower`` is in its store: submitting
for others is refused by design). Their outcomes are decided by the plan alone, whatever the order of events:
a customer's loan requests never add up to more than the default credit limit, except those asking for more
than the whole limit at once (refused at the saga's first step), and those for too long a term are refused at
the second step (their reservation released). Each customer moves one address change at a time, so the last
acknowledged change is the address it must end at.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from examples.bank.credit_offer import DEFAULT_LIMIT, MAX_TERM_MONTHS
from examples.bank.customer import BRANCH_COLUMNS
from examples.bank.customer import INBOUND_DIRECTORY as CUSTOMER_FILES
from examples.bank.files import CITIES, DroppedFile, drop

from interlink.ports.store import Store
from tests.faults.support import list_all

from .client import Operation, until_acknowledged
from .config import ChaosConfig

__all__ = ["BranchFile", "Load", "LoanPlan", "Move"]

Decision = Literal["offered", "declined"]
#: The most operations of one kind a run sends, whatever its length.
MOST = 5_000


@dataclass(frozen=True)
class LoanPlan:
    """A loan request the load submits, and how its origination must end."""

    id: str
    customer_id: str
    amount: int
    term_months: int

    @property
    def decision(self) -> Decision:
        """Offered, unless it asks for more than a whole credit limit or for too long a term."""
        return "offered" if self.amount <= DEFAULT_LIMIT and self.term_months <= MAX_TERM_MONTHS else "declined"

    @property
    def offer(self) -> str | None:
        """Where credit-offer's offer must end: none when refused at the reservation, released when refused at
        the offer (the saga's compensation), else offered."""
        if self.amount > DEFAULT_LIMIT:
            return None
        return "offered" if self.term_months <= MAX_TERM_MONTHS else "released"


@dataclass(frozen=True)
class Move:
    """An address change the load asks for."""

    customer_id: str
    street: str
    postcode: str
    city: str


@dataclass(frozen=True)
class BranchFile:
    """A branch file the load dropped: its name and the customers in it (every row good)."""

    name: str
    ids: tuple[str, ...]


def branch_file(number: int, count: int) -> tuple[BranchFile, DroppedFile]:
    """The ``number``-th branch file, of ``count`` new customers."""
    rows, ids = [";".join(BRANCH_COLUMNS)], []
    for r in range(count):
        id = f"K{number:03d}{r:03d}"
        city, area = CITIES[r % len(CITIES)]
        segment = "business" if r % 7 == 6 else "retail"
        phone, postcode = f"+316{number:03d}{r:05d}", f"{area} {chr(65 + r % 26)}{chr(65 + number % 26)}"
        rows.append(
            f"{id};Customer {id};{id.lower()}@example.org;{segment};{phone};Dorpsstraat {r + 1};{postcode};{city}"
        )
        ids.append(id)
    name = f"customers-chaos-{number:03d}.csv"
    return BranchFile(name, tuple(ids)), DroppedFile(name, "\n".join(rows) + "\n", count, None)


class Load:
    """Drives the bank at ``urls`` (domain -> API base URL) running in ``workdir``; reads ``customer``'s and
    ``loan-request``'s stores to know whom it may move and lend to."""

    def __init__(self, urls: dict[str, str], stores: dict[str, Store], workdir: Path, config: ChaosConfig,
                 rng: random.Random) -> None:  # fmt: skip
        self.urls, self.stores, self.workdir, self.config, self.rng = urls, stores, workdir, config, rng
        self.loans: list[tuple[LoanPlan, Operation]] = []
        self.moves: list[tuple[Move, Operation]] = []
        self.files: list[BranchFile] = []
        self._registered: list[str] = []
        self._borrowers: list[str] = []
        self._budget: dict[str, int] = {}
        self._moving: set[str] = set()
        self._numbers = itertools.count(1)
        self._stop = asyncio.Event()
        self._until = math.inf

    async def run(self, stop: asyncio.Event) -> None:
        """Send new work until ``stop``; then keep retrying what is not acknowledged for ``config.drain`` s."""
        self._stop = stop
        async with httpx.AsyncClient(trust_env=False, timeout=40) as http:
            workers = [self._lend(http) for _ in range(self.config.loan_workers)]
            workers += [self._move(http) for _ in range(self.config.move_workers)]
            await asyncio.gather(self._drop_files(), self._follow(), self._drain(), *workers)

    def _deadline(self) -> float:
        return self._until

    async def _drain(self) -> None:
        await self._stop.wait()
        self._until = asyncio.get_running_loop().time() + self.config.drain

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or until ``stop``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _drop_files(self) -> None:
        folder = self.workdir / CUSTOMER_FILES
        for number in itertools.count():
            if self._stop.is_set():
                return
            described, file = branch_file(number, self.config.first_file if number == 0 else self.config.later_files)
            await asyncio.to_thread(drop, folder, file)
            self.files.append(described)
            await self._wait(self.config.file_every)

    async def _follow(self) -> None:
        """Whom the load may move (registered at customer) and lend to (known to loan-request), once a second."""
        while not self._stop.is_set():
            self._registered = sorted(await list_all(self.stores["customer"], "Customer"))
            self._borrowers = sorted(await list_all(self.stores["loan-request"], "Borrower"))
            await self._wait(1.0)

    async def _pause(self) -> None:
        await self._wait(self.rng.uniform(0.3, 1.5))

    def _next_loan(self) -> LoanPlan | None:
        rng = self.rng
        candidates = [c for c in self._borrowers if self._budget.get(c, DEFAULT_LIMIT) >= 1_000]
        if not candidates:
            return None
        customer, n, kind = rng.choice(candidates), next(self._numbers), rng.random()
        if kind < 0.1:  # more than a whole limit: refused at the reservation, reserves nothing
            return LoanPlan(f"L{n:05d}", customer, DEFAULT_LIMIT + 5_000, 60)
        left = self._budget.get(customer, DEFAULT_LIMIT)
        amount = rng.randrange(1_000, min(left, 6_000) + 1, 500)
        self._budget[customer] = left - amount
        term = MAX_TERM_MONTHS + 60 if kind < 0.2 else rng.choice([12, 24, 36, 60, 84, MAX_TERM_MONTHS])
        return LoanPlan(f"L{n:05d}", customer, amount, term)

    async def _lend(self, http: httpx.AsyncClient) -> None:
        while not self._stop.is_set() and len(self.loans) < MOST:
            plan = self._next_loan()
            if plan is None:
                await self._wait(0.5)
                continue
            body = {"id": plan.id, "customer_id": plan.customer_id, "amount": plan.amount,
                    "term_months": plan.term_months, "purpose": "chaos"}  # fmt: skip
            op = Operation(f"submit-{plan.id}", "POST", f"{self.urls['loan-request']}/loan-requests", body)
            self.loans.append((plan, op))
            await until_acknowledged(http, op, self._deadline)
            await self._pause()

    async def _move(self, http: httpx.AsyncClient) -> None:
        rng = self.rng
        while not self._stop.is_set() and len(self.moves) < MOST:
            free = [c for c in self._registered if c not in self._moving]
            if not free:
                await self._wait(0.5)
                continue
            customer, n = rng.choice(free), next(self._numbers)
            city, area = rng.choice(CITIES)
            move = Move(customer, f"Chaos street {n}", f"{area} {chr(65 + n % 26)}{chr(65 + n // 26 % 26)}", city)
            body = {"street": move.street, "postcode": move.postcode, "city": move.city}
            op = Operation(f"move-{n:05d}", "PUT", f"{self.urls['customer']}/customers/{customer}/address", body)
            self.moves.append((move, op))
            self._moving.add(customer)
            try:
                await until_acknowledged(http, op, self._deadline)
            finally:
                self._moving.discard(customer)
            await self._pause()
