"""The loan-request domain's declarations shared by its modules: the domain, its aggregates and its fat event.

:mod:`examples.bank.loan_request` is the domain's entry point (its API, what it keeps of customers);
:mod:`examples.bank.loan_origination` the saga and the SMS it sends. ``credit_offer`` imports
``LoanRequestChanged`` from here, without pulling in the saga that sends it commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Domain, Indexed, StateTransferEvent

loan_request = Domain("loan-request", description="Loan requests and the credit files behind them")

Status = Literal["submitted", "offered", "declined"]
Credit = Literal["none", "reserved", "offered", "released"]
Segment = Literal["retail", "business"]


class CustomerSummary(BaseModel):
    """The customer as this domain needs it: translated from the customer API's payload."""

    customer_id: str
    version: int
    name: str
    segment: Segment
    phone: str | None


def _to_customer_summary(payload: Any) -> CustomerSummary:
    return CustomerSummary(
        customer_id=payload["id"], version=payload["version"], name=payload["name"], segment=payload["segment"],
        phone=payload.get("phone"),
    )  # fmt: skip


#: The customer API as this domain reads it (the fetch-back of a state change notification).
customers = loan_request.external_service(
    "customer", resource="/customers/{id}", translate=_to_customer_summary, base_url="http://127.0.0.1:8000/customer"
)


@loan_request.aggregate
class CreditFile(Aggregate):
    """What the loan domain keeps about a customer, opened when the customer registers."""

    customer_name: str
    segment: Segment
    opened_at: datetime


@loan_request.aggregate
class Borrower(Aggregate):
    """The customer data this domain works with (id: the customer id), fetched back on ``CustomerChanged``."""

    name: str
    segment: Segment
    phone: str | None
    customer_version: int


@loan_request.aggregate
class LoanRequest(Aggregate):
    """A customer's request for a loan; ``credit`` follows credit_offer's offer, ``saga_id`` its origination."""

    customer_id: Annotated[str, Indexed()]
    amount: int = Field(gt=0)
    term_months: int = Field(ge=6, le=360)
    purpose: str
    status: Annotated[Status, Indexed()] = "submitted"
    credit: Credit = "none"
    decline_reason: str | None = None
    saga_id: str
    submitted_at: datetime


@loan_request.aggregate
class SmsNotice(Aggregate):
    """The reply to one ``SendSms`` this domain sent (id: the SMS id): confirmed, failed or timed out."""

    loan_request_id: str
    outcome: str
    reason: str | None = None


@loan_request.event
class LoanRequestChanged(StateTransferEvent):
    """A loan request was submitted or changed: its whole state after the change (state transfer)."""

    customer_id: str
    amount: int
    term_months: int
    purpose: str
    status: Status
    credit: Credit
    submitted_at: datetime
