"""The scripted day's steps, in order, each narrated naming the pattern at work; :func:`play` runs them."""

from __future__ import annotations

import asyncio

from examples.bank.script import REPLICA, DayFailed, Script, customers_file, eventually, repayments_file
from examples.bank.script_counts import counts
from examples.bank.tally import Count
from interlink.patterns.command_events.sagas import SAGA_KIND

__all__ = ["play"]

Loan = tuple[str, str, int, int]


async def customers_by_file(day: Script) -> None:
    """Inbound File; Event capture; State Change Notification (eager); Deferred update (flags only)."""
    directory, file = customers_file(day.plan)
    await day.ingest("customer", directory, file, "rows", "a bad e-mail")
    n = day.plan.customers
    await day.wait_count("loan-request", "CreditFile", n, "credit files")
    day.narrate("Event capture", "loan-request", f"{n} credit files opened on CustomerRegistered")
    await day.wait_count("loan-request", "Borrower", n, "borrowers")
    received, fetches, _ = await day.notified("loan-request")
    day.narrate(
        "State Change Notification",
        "loan-request",
        f"{received} thin CustomerChanged -> {fetches} fetches of GET /customers/{{id}}: {n} borrowers kept",
    )

    async def flagged() -> tuple[int, int, int] | None:
        found = await day.notified("risk-assessment")
        return found if found[0] >= n else None

    received, fetches, pending = await eventually(flagged, day.plan.timeout, "risk assessment's notifications")
    day.narrate(
        "Deferred update",
        "risk-assessment",
        f"{received} CustomerChanged -> {pending} profiles marked pending, {fetches} fetched yet",
    )


async def _submit(day: Script, loans: list[Loan]) -> dict[str, str]:
    """Submit the loan requests over HTTP; their saga ids by loan request id."""

    async def submit(loan_id: str, cid: str, amount: int, term: int) -> tuple[str, str]:
        body = {"id": loan_id, "customer_id": cid, "amount": amount, "term_months": term, "purpose": "car"}
        made = await day.call("POST", "loan-request", "/loan-requests", body, expect=201)  # created
        return loan_id, made["saga_id"]

    return dict(await asyncio.gather(*(submit(*loan) for loan in loans)))


async def loan_requests_by_api(day: Script) -> None:
    """API Exposure; Saga (and its compensation); Event-Carried State Transfer."""
    loans = [*day.loans, day.over_limit, day.too_long]
    sagas = await _submit(day, loans)
    day.narrate("API Exposure", "loan-request", f"{len(loans)} loan requests submitted: POST /loan-requests")

    async def ended() -> bool | None:
        return True if await day.sagas_ended() >= len(loans) else None

    await eventually(ended, day.plan.timeout, "the loan origination sagas to end")
    completed = await day.count("loan-request", SAGA_KIND, status="completed")
    day.narrate(
        "Saga",
        "loan-request",
        f"{completed} loan originations completed: ReserveCredit -> OfferCredit, "
        "each step a command event confirmed by credit-offer",
    )
    for loan_id, *_ in (day.over_limit, day.too_long):
        saga = await day.call("GET", "loan-request", f"/sagas/{sagas[loan_id]}")
        steps = " -> ".join(e["what"] + (f" ({e['detail']})" if e.get("detail") else "") for e in saga["history"])
        day.narrate("Saga", "loan-request", f"{loan_id} {saga['status']}: {steps}")
    await day.wait_count("credit-offer", REPLICA, len(day.loans), "replicated offered loan requests", status="offered")
    await day.wait_count("credit-offer", REPLICA, 2, "replicated declined loan requests", status="declined")
    day.narrate(
        "Event-Carried State Transfer",
        "credit-offer",
        f"{len(loans)} loan requests replicated from the fat LoanRequestChanged, each at its final state "
        f"({len(day.loans)} offered, 2 declined), no call back to loan-request",
    )


async def scoring(day: Script) -> None:
    """Deferred update: the first score of each customer fetches its profile."""
    for _, cid, amount, _ in day.loans:
        await day.call("GET", "risk-assessment", f"/scores/{cid}", params={"amount": amount})

    async def fetched() -> tuple[int, int, int] | None:
        found = await day.notified("risk-assessment")
        if found[1] >= len(day.loans):
            return found
        await _poke(day)
        return None

    _, fetches, pending = await eventually(fetched, day.plan.timeout, "risk assessment's fetches")
    day.narrate(
        "Deferred update",
        "risk-assessment",
        f"{len(day.loans)} loans scored: GET /scores/{{id}} made {fetches} fetches on the spot; "
        f"{pending} profiles still pending, never read",
    )


async def _poke(day: Script) -> None:
    """Score the first loan's customer again (its profile is fresh: no fetch). A process writes its read
    counters on a read at most once a second, and not between reads; this read makes it write them."""
    _, cid, amount, _ = day.loans[0]
    await day.call("GET", "risk-assessment", f"/scores/{cid}", params={"amount": amount})


async def address_change(day: Script) -> None:
    """A customer moves (many times): eager fetches at once, the deferred update fetches once, when scored."""
    moves, mover = day.plan.moves, day.mover
    before = await day.notified("loan-request"), await day.notified("risk-assessment")
    for i in range(moves):
        address = {"street": f"Grote Markt {i + 1}", "postcode": "9711 LV", "city": "Groningen"}
        await day.call("PUT", "customer", f"/customers/{mover}/address", address)
    day.narrate("API Exposure", "customer", f"{mover} moves {moves} times: PUT /customers/{mover}/address")
    await day.wait_count("loan-request", "Borrower", 1, "the mover's last version", customer_version=moves + 1)
    received, fetches, _ = await day.notified("loan-request")
    day.narrate(
        "State Change Notification",
        "loan-request",
        f"{received - before[0][0]} notifications -> "
        f"{fetches - before[0][1]} fetches at once (a fetch reads the newest version, covering later ones)",
    )

    async def flagged() -> tuple[int, int, int] | None:
        found = await day.notified("risk-assessment")
        return found if found[0] >= before[1][0] + moves else None

    await eventually(flagged, day.plan.timeout, "risk assessment's notifications of the moves")
    score = await day.call("GET", "risk-assessment", f"/scores/{mover}", params={"amount": 15_000})

    async def fetched() -> tuple[int, int, int] | None:
        found = await day.notified("risk-assessment")
        if found[1] > before[1][1]:
            return found
        await _poke(day)
        return None

    received, fetches, _ = await eventually(fetched, day.plan.timeout, "risk assessment's fetch")
    day.narrate(
        "Deferred update",
        "risk-assessment",
        f"{received - before[1][0]} notifications -> "
        f"{fetches - before[1][1]} fetch, when scored: {score['score']} ({'; '.join(score['reasons'])})",
    )


async def sms_outage(day: Script) -> None:
    """Command events with confirmations: the SMS service is down, the commands wait, then all go once."""
    await day.land.outage.stop()
    day.narrate("Command event", "customer-communication", "the SMS service stops (outage)")
    sagas = await _submit(day, day.during_outage)
    day.narrate("API Exposure", "loan-request", f"{len(sagas)} loan requests submitted during the outage")

    async def ended() -> bool | None:
        return True if await day.sagas_ended() >= day.total else None

    await eventually(ended, day.plan.timeout, "the sagas of the loan requests during the outage")
    waiting = 2 * len(sagas)
    confirmed = sum([await day.count("loan-request", "SmsNotice", loan_request_id=loan_id) for loan_id in sagas])
    day.narrate(
        "Command event",
        "loan-request",
        f"their sagas ended; {waiting} SendSms sent, {confirmed} answered: the commands wait on the broker",
    )
    await day.land.outage.start()
    day.narrate("Command event", "customer-communication", "the SMS service is back")
    await day.wait_count("loan-request", "SmsNotice", 2 * day.total, "SMS confirmations", outcome="confirmed")
    sent = await day.count("customer-communication", "Sms")
    once = await day.count("customer-communication", "Sms", requests=1)
    day.narrate(
        "Command event",
        "customer-communication",
        f"{sent} SMS sent in the day, {once} of them exactly once; {2 * day.total} SmsSent confirmations back",
    )


async def repayments(day: Script) -> None:
    """Inbound File: the mainframe's fixed-width extract."""
    loans = [(loan_id, cid) for loan_id, cid, _, _ in [*day.loans, *day.during_outage]]
    directory, file = repayments_file(day.plan, loans)
    await day.ingest("payments", directory, file, "lines", "an impossible value date")


STEPS = (customers_by_file, loan_requests_by_api, scoring, address_change, sms_outage, repayments)


async def play(day: Script) -> list[Count]:
    """Every step, then the counts once the stores hold what the day put in (or the timeout passed)."""
    for step in STEPS:
        await step(day)

    async def all_match() -> list[Count] | None:
        found = await counts(day)
        return found if all(c.ok for c in found) else None

    try:
        return await eventually(all_match, day.plan.timeout, "the stores to match the day")
    except DayFailed:
        return await counts(day)
