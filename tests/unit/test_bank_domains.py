"""The reference bank's domains, one command at a time on the memory store: their business rules and events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from examples.bank import DOMAINS
from examples.bank.credit_offer import (
    DEFAULT_LIMIT,
    credit_offer,
    record_loan_request,
    release_credit,
    reserve_credit,
)
from examples.bank.customer import change_address, customer, register_customer
from examples.bank.customer_communication import customer_communication, send_sms
from examples.bank.loan_request import loan_request, submit_loan_request
from examples.bank.payments import payments, record_repayment
from examples.bank.risk_assessment import keep_profile, risk_assessment, score
from openapi_spec_validator import validate

from interlink import Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import BusinessRuleError, NotFoundError
from interlink.patterns.api_exposure import build_api
from interlink.runtime.domain_runtime import DomainRuntime

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
        assert events[-1][1] == {
            "resource_type": "customer",
            "customer_id": "C1",
            "version": 2,
            "path": "/customers/C1",
        }
        with pytest.raises(NotFoundError):
            await rt.execute(change_address, {"id": "C9", "street": "X 1", "postcode": "1000", "city": "Y"})


async def test_a_submitted_loan_request_publishes_its_whole_state(hosted: Hosted) -> None:
    """submit_loan_request emits the fat LoanRequestChanged carrying every field of the loan request."""
    async with hosted(loan_request) as rt:
        body = {"id": "L1", "customer_id": "C1", "amount": 9_000, "term_months": 48, "purpose": "car"}
        await rt.execute(submit_loan_request, body)
        ((kind, data),) = await _emitted(rt)
        assert kind == "loan-request.LoanRequestChanged"
        assert {k: data[k] for k in body if k != "id"} == {k: v for k, v in body.items() if k != "id"}
        assert (data["loan_request_id"], data["version"], data["status"]) == ("L1", 1, "submitted")


async def _copy(rt: DomainRuntime, loan: str, customer_id: str, amount: int, version: int = 1) -> None:
    await rt.execute(
        record_loan_request,
        {"loan_request_id": loan, "version": version, "customer_id": customer_id, "amount": amount,
         "term_months": 60, "status": "submitted"},
    )  # fmt: skip


async def test_credit_beyond_the_limit_is_refused_and_a_release_gives_it_back(hosted: Hosted) -> None:
    """Reservations add up to the limit; one more is a business error until a release frees room."""
    async with hosted(credit_offer) as rt:
        await _copy(rt, "L1", "C1", DEFAULT_LIMIT - 5_000)
        await _copy(rt, "L2", "C1", 6_000)
        await rt.execute(reserve_credit, {"loan_request_id": "L1"})
        with pytest.raises(BusinessRuleError, match="L2: 6000 exceeds the 5000 still available"):
            await rt.execute(reserve_credit, {"loan_request_id": "L2"})
        assert await rt.store.load("CreditOffer", "L2") is None
        released = await rt.execute(release_credit, {"loan_request_id": "L1"})
        assert released.status == "released"
        offer = await rt.execute(reserve_credit, {"loan_request_id": "L2"})
        assert (offer.status, offer.amount) == ("reserved", 6_000)
        statuses = [d["status"] for t, d in await _emitted(rt) if t == "credit-offer.CreditOfferChanged"]
        assert statuses == ["reserved", "released", "reserved"]


async def test_reserving_twice_reserves_once(hosted: Hosted) -> None:
    """A second reservation of the same loan request changes nothing and emits nothing."""
    async with hosted(credit_offer) as rt:
        await _copy(rt, "L1", "C1", 10_000)
        await rt.execute(reserve_credit, {"loan_request_id": "L1"})
        await rt.execute(reserve_credit, {"loan_request_id": "L1"})
        limit = await rt.store.load("CreditLimit", "C1")
        assert limit is not None
        assert json.loads(limit.data)["reserved"] == {"L1": 10_000}
        assert len(await _emitted(rt)) == 1


async def test_an_older_loan_request_state_does_not_overwrite_a_newer_copy(hosted: Hosted) -> None:
    """The copy keeps the highest version it was told about, whatever order the states arrive in."""
    async with hosted(credit_offer) as rt:
        await _copy(rt, "L1", "C1", 7_000, version=2)
        await _copy(rt, "L1", "C1", 1_000, version=1)
        stored = await rt.store.load("LoanRequestCopy", "L1")
        assert stored is not None
        assert (json.loads(stored.data)["amount"], json.loads(stored.data)["source_version"]) == (7_000, 2)


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


async def test_an_sms_and_a_repayment_are_each_recorded_once(hosted: Hosted) -> None:
    """Sending an SMS or booking a repayment again with the same id leaves the first one as it was."""
    async with hosted(customer_communication) as rt:
        sms = {"id": "S1", "customer_id": "C1", "phone": "+31600000001", "text": "hello"}
        first = await rt.execute(send_sms, sms)
        again = await rt.execute(send_sms, {**sms, "text": "other"})
        assert (again.text, again.version, again.sent_at) == ("hello", 1, first.sent_at)
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
