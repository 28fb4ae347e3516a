"""The loan-request domain's declarations shared by its modules: the domain, its aggregates and its fat event.

:mod:`examples.bank.loan_request` is the domain's entry point (its API, what it keeps of customers);
:mod:`examples.bank.loan_origination` the saga and the SMS it sends. ``credit_offer`` imports
``LoanRequestChanged`` from here, without pulling in the saga that sends it commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from examples.bank.owners import LICENSE, team
from interlink import Aggregate, Domain, Indexed, StateTransferEvent

loan_request = Domain(
    "loan-request",
    description="Loan requests and the credit files behind them",
    version="2.0.0",
    contact=team("loan-request"),
    license=LICENSE,
)

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

    customer_name: str = Field(description="The customer's name when the file was opened.")
    segment: Segment = Field(description="Retail (a person) or business.")
    opened_at: datetime = Field(description="When the customer registered.")


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

    id: str = Field(min_length=1, max_length=64, description="The loan request's id, chosen by the caller.")
    customer_id: Annotated[str, Indexed()] = Field(max_length=64, description="The customer asking for the loan.")
    amount: int = Field(gt=0, le=5_000_000, description="The amount asked for, in whole euros.")
    term_months: int = Field(ge=6, le=360, description="Months over which the loan is repaid.")
    purpose: str = Field(max_length=200, description="What the loan is for.")
    status: Annotated[Status, Indexed()] = Field(
        "submitted", description="Where the request stands in its origination."
    )
    credit: Credit = Field("none", description="The credit offer's state, as credit-offer reports it.")
    decline_reason: str | None = Field(None, description="Why the request was declined, if it was.")
    saga_id: str = Field(description="The loan origination saga running for this request.")
    submitted_at: datetime = Field(description="When the request was taken.")


@loan_request.aggregate
class SmsNotice(Aggregate):
    """The reply to one ``SendSms`` this domain sent (id: the SMS id): confirmed, failed or timed out."""

    loan_request_id: str
    outcome: str
    reason: str | None = None


@loan_request.event
class LoanRequestChanged(StateTransferEvent):
    """A loan request was submitted or changed: its whole state after the change (state transfer)."""

    customer_id: str = Field(description="The customer asking for the loan.", examples=["C1001"])
    amount: int = Field(description="The amount asked for, in whole euros.", examples=[25000])
    term_months: int = Field(description="Months over which the loan is repaid.", examples=[60])
    purpose: str = Field(description="What the loan is for.", examples=["car"])
    status: Status = Field(description="Where the request stands in its origination.", examples=["submitted"])
    credit: Credit = Field(description="The credit offer's state, as credit-offer reports it.", examples=["none"])
    submitted_at: datetime = Field(description="When the request was taken.", examples=["2026-12-07T09:30:00Z"])
