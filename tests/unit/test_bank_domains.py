"""The reference bank's domains, one command at a time on the memory store: their business rules and events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from examples.bank import DOMAINS
from examples.bank.credit_offer import DEFAULT_LIMIT, MAX_TERM_MONTHS, credit_offer
from examples.bank.customer import change_address, customer, register_customer
from examples.bank.customer_communication import customer_communication
from examples.bank.loan_request import keep_borrower, loan_request, submit_loan_request
from examples.bank.payments import payments, record_repayment
from examples.bank.risk_assessment import keep_profile, risk_assessment, score
from examples.bank.tally import count_aggregates
from openapi_spec_validator import validate

from interlink import Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import BusinessRuleError, NotFoundError
from interlink.patterns.api_exposure import build_api
from interlink.patterns.command_events import load_saga
from interlink.runtime import DomainRuntime, Settings
from interlink.testing import FakeExternalServices, Landscape

SETTINGS = Settings(fetch_wait=0.05, relay_poll_interval=0.05)
Hosted = Callable[[Domain], AbstractAsyncContextManager[DomainRuntime]]


@asynccontextmanager
async def _hosted(domain: Domain) -> AsyncIterator[DomainRuntime]:
    async with MemoryStore(domain=domain.name) as store:
        yield DomainRuntime(domain, store, MemoryBroker())


@pytest.fixture
def hosted() -> Hosted:
    """A domain on a memory store with no relay: what it emits stays in its outbox."""
    return _hosted


async def _emitted(runtime: DomainRuntime) -> list[tuple[str, dict[str, Any]]]:
    rows = await runtime.store.outbox_batch(1000)
    return [(r.message.type, json.loads(r.message.body)["data"]) for r in rows]


def test_the_bank_has_six_domains_with_distinct_names() -> None:
    """DOMAINS lists the six domains of the reference bank."""
    assert [d.name for d in DOMAINS] == [
        "customer", "loan-request", "credit-offer", "risk-assessment", "customer-communication", "payments",
    ]  # fmt: skip


async def test_an_address_change_emits_a_thin_notification_with_the_new_version(hosted: Hosted) -> None:
    """change_address saves the address and emits CustomerChanged naming version 2 and the API path only."""
    async with hosted(customer) as rt:
        await rt.execute(register_customer, {"id": "C1", "name": "Ann", "email": "ann@example.org"})
        moved = await rt.execute(
            change_address, {"id": "C1", "street": "Markt 1", "postcode": "9711 LV", "city": "Groningen"}
        )
        assert (moved.version, moved.address and moved.address.city) == (2, "Groningen")
        events = await _emitted(rt)
        assert [t for t, _ in events] == [
            "customer.CustomerRegistered",
            "customer.CustomerChanged",
            "customer.CustomerChanged",
        ]
        assert events[-1][1] == {"resource": "Customer", "id": "C1", "version": 2, "path": "/customers/C1"}
        with pytest.raises(NotFoundError):
            await rt.execute(change_address, {"id": "C9", "street": "X 1", "postcode": "1000", "city": "Y"})


async def _borrower(rt: DomainRuntime, customer_id: str) -> None:
    await rt.execute(
        keep_borrower,
        {"customer_id": customer_id, "version": 1, "name": "Ann", "segment": "retail", "phone": "+31600000001"},
    )


async def test_a_submitted_loan_request_publishes_its_state_starts_its_saga_and_sends_an_sms(hosted: Hosted) -> None:
    """submit_loan_request emits the fat LoanRequestChanged, the saga's ReserveCredit and a SendSms, together."""
    async with hosted(loan_request) as rt:
        await _borrower(rt, "C1")
        body = {"id": "L1", "customer_id": "C1", "amount": 9_000, "term_months": 48, "purpose": "car"}
        made = await rt.execute(submit_loan_request, body)
        emitted = dict(await _emitted(rt))
        assert set(emitted) == {
            "loan-request.LoanRequestChanged", "credit-offer.ReserveCredit", "customer-communication.SendSms",
        }  # fmt: skip
        state = emitted["loan-request.LoanRequestChanged"]
        assert {k: state[k] for k in body if k != "id"} == {k: v for k, v in body.items() if k != "id"}
        assert (state["id"], state["version"], state["status"], state["credit"]) == ("L1", 1, "submitted", "none")
        assert emitted["credit-offer.ReserveCredit"] == {"loan_request_id": "L1", "customer_id": "C1", "amount": 9_000}
        assert emitted["customer-communication.SendSms"]["sms_id"] == "received-L1"
        assert await rt.store.load("~saga", made.saga_id) is not None


async def test_a_loan_request_for_a_customer_not_known_yet_is_refused(hosted: Hosted) -> None:
    """Without the customer's data (no notification fetched yet) a loan request is a business error."""
    async with hosted(loan_request) as rt:
        body = {"id": "L1", "customer_id": "C9", "amount": 9_000, "term_months": 48, "purpose": "car"}
        with pytest.raises(BusinessRuleError, match="customer C9 is not known here"):
            await rt.execute(submit_loan_request, body)


async def test_a_newer_customer_version_wins_over_an_older_one(hosted: Hosted) -> None:
    """keep_borrower keeps the highest customer version it fetched, whatever order the fetches land in."""
    async with hosted(loan_request) as rt:
        data = {"customer_id": "C1", "name": "Ann", "segment": "retail", "phone": None}
        await rt.execute(keep_borrower, {**data, "version": 3, "name": "Anna"})
        kept = await rt.execute(keep_borrower, {**data, "version": 2})
        assert (kept.name, kept.customer_version) == ("Anna", 3)


def _lending() -> Landscape:
    """loan-request, credit-offer and customer-communication on a Landscape (customers are put in directly)."""
    lending = [loan_request, credit_offer, customer_communication]
    return Landscape(lending, settings=SETTINGS, external={loan_request.name: FakeExternalServices()})


async def _saga_end(land: Landscape, saga_id: str) -> tuple[str, str | None]:
    await land.settle()
    state = await load_saga(land.store(loan_request), saga_id)
    assert state is not None
    return state.status.value, state.reason


async def test_the_loan_origination_offers_credit_or_compensates() -> None:
    """Within the limit and term the saga completes; over the limit step 1 is refused; too long a term is
    refused at step 2 and the reservation is released; every SMS is sent once and confirmed."""
    async with _lending() as land:
        loans, credit, comms = land[loan_request], land[credit_offer], land[customer_communication]
        await _borrower(loans, "C1")
        submit = {"customer_id": "C1", "term_months": 60, "purpose": "car"}
        ok = await loans.execute(submit_loan_request, {**submit, "id": "L1", "amount": DEFAULT_LIMIT - 5_000})
        assert await _saga_end(land, ok.saga_id) == ("completed", None)
        over = await loans.execute(submit_loan_request, {**submit, "id": "L2", "amount": 6_000})
        status, reason = await _saga_end(land, over.saga_id)
        assert status == "compensated"
        assert reason is not None
        assert "L2: 6000 exceeds the 5000 still available" in reason
        long = await loans.execute(
            submit_loan_request, {**submit, "id": "L3", "amount": 1_000, "term_months": MAX_TERM_MONTHS + 1}
        )
        status, reason = await _saga_end(land, long.saga_id)
        assert status == "compensated"
        assert reason is not None
        assert f"beyond the {MAX_TERM_MONTHS} months" in reason
        limit = await credit.store.load("CreditLimit", "C1")
        assert limit is not None
        assert json.loads(limit.data)["reserved"] == {"L1": DEFAULT_LIMIT - 5_000}
        released = await credit.store.load("CreditOffer", "L3")
        assert released is not None
        assert json.loads(released.data)["status"] == "released"
        found = [(i, await loans.store.load("LoanRequest", i)) for i in ("L1", "L2", "L3")]
        decisions = {i: f"{d['status']}/{d['credit']}" for i, r in found if r for d in [json.loads(r.data)]}
        assert decisions == {"L1": "offered/offered", "L2": "declined/none", "L3": "declined/released"}
        assert await count_aggregates(loans.store, "SmsNotice", outcome="confirmed") == 6
        assert await count_aggregates(comms.store, "Sms", requests=1) == 6
        assert await count_aggregates(credit.store, "~replica:loan-requests") == 3


async def test_the_score_rises_with_the_amount_and_a_risky_postcode_area(hosted: Hosted) -> None:
    """score reads the profile kept here: a large amount and postcode area 9 each add their reason."""
    async with hosted(risk_assessment) as rt:
        facts = {"id": "C1", "version": 1, "segment": "retail", "postcode": "1011 AA", "city": "Amsterdam"}
        await rt.execute(keep_profile, facts)
        low = await rt.query(score, customer_id="C1", amount=5_000)
        await rt.execute(keep_profile, {**facts, "version": 2, "postcode": "9711 LV", "city": "Groningen"})
        await rt.execute(keep_profile, {**facts, "version": 1})  # an older state changes nothing
        high = await rt.query(score, customer_id="C1", amount=30_000)
        assert (low.score, low.reasons) == (10, [])
        assert high.score == 60
        assert high.reasons == ["amount 30000 above 20000", "postcode area 9"]


async def test_a_repayment_is_recorded_once(hosted: Hosted) -> None:
    """Booking a repayment again with the same reference leaves the first one as it was."""
    async with hosted(payments) as rt:
        line = {
            "reference": "R1",
            "loan_request_id": "L1",
            "customer_id": "C1",
            "amount": "12.50",
            "value_date": "2026-11-25",
        }
        await rt.execute(record_repayment, line)
        booked = await rt.execute(record_repayment, {**line, "amount": "99.00"})
        assert (booked.amount, booked.version) == (Decimal("12.50"), 1)


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_every_bank_api_is_a_valid_openapi_document(domain: Domain) -> None:
    """The OpenAPI document generated from each domain's declarations passes openapi-spec-validator."""
    validate(build_api(domain).openapi())
