"""The loan-request domain (process): loan requests from submission to decision, and the credit files behind them.

Patterns at work:

- API Exposure: submit, get and list loan requests over HTTP.
- Event-Carried State Transfer: every change publishes the fat ``LoanRequestChanged``, carrying the loan
  request's whole state, so ``credit_offer`` can keep its own copy without calling back.
- Event capture: a credit file is opened for every new customer from ``CustomerRegistered``.

Seams for the patterns built elsewhere, wired in once they exist:

- SEAM(on_notification): ``@loan_request.on_notification(CustomerChanged, fetch=customers)`` goes at the
  end of this module, fetching the customer back through the ``customers`` external service declared here.
- SEAM(handles/on_reply): ``submit_loan_request`` is where the ``SendSms`` command event to
  ``customer_communication`` is sent (``ctx.send``) and its ``SmsSent`` reply handled with ``on_reply``.
- SEAM(saga): the loan origination saga (reserve a credit limit at ``credit_offer``, compensate by releasing
  it) starts from ``submit_loan_request`` and reacts to ``CreditOfferChanged``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from examples.bank.customer import CustomerRegistered
from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.core.pagination import Page

loan_request = Domain("loan-request", description="Loan requests and the credit files behind them")

Status = Literal["submitted", "offered", "declined", "withdrawn"]


class CustomerSummary(BaseModel):
    """The customer as this domain needs it: translated from the customer API's payload."""

    customer_id: str
    name: str
    segment: Literal["retail", "business"]


def _to_customer_summary(payload: Any) -> CustomerSummary:
    return CustomerSummary(customer_id=payload["id"], name=payload["name"], segment=payload["segment"])


#: The customer API as this domain reads it (the fetch-back of a state change notification).
customers = loan_request.external_service(
    "customer", resource="/customers/{id}", translate=_to_customer_summary, base_url="http://127.0.0.1:8000/customer"
)


@loan_request.aggregate
class CreditFile(Aggregate):
    """What the loan domain keeps about a customer, in its own language."""

    customer_name: str
    segment: Literal["retail", "business"]
    opened_at: datetime


@loan_request.aggregate
class LoanRequest(Aggregate):
    """A customer's request for a loan."""

    customer_id: str
    amount: int = Field(gt=0)
    term_months: int = Field(ge=6, le=360)
    purpose: str
    status: Status = "submitted"
    submitted_at: datetime


@loan_request.event
class LoanRequestChanged(PublicEvent):
    """A loan request was submitted or changed: its whole state after the change (state transfer)."""

    loan_request_id: str
    version: int
    customer_id: str
    amount: int
    term_months: int
    purpose: str
    status: Status
    submitted_at: datetime


class OpenCreditFile(BaseModel):
    """Input of the open-credit-file command."""

    customer_id: str
    customer_name: str
    segment: Literal["retail", "business"]


class SubmitLoanRequest(BaseModel):
    """Input of the submit command."""

    id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(gt=0, le=5_000_000)
    term_months: int = Field(ge=6, le=360)
    purpose: str = Field(min_length=1, max_length=200)


@loan_request.command
async def open_credit_file(ctx: Context, data: OpenCreditFile) -> CreditFile:
    """Open the customer's credit file (once: a second call returns the existing file)."""
    existing = await ctx.find(CreditFile, data.customer_id)
    if existing is not None:
        return existing
    opened = CreditFile(
        id=data.customer_id, customer_name=data.customer_name, segment=data.segment, opened_at=ctx.now()
    )
    await ctx.save(opened)
    return opened


@loan_request.command(http="POST /loan-requests")
async def submit_loan_request(ctx: Context, data: SubmitLoanRequest) -> LoanRequest:
    """Take a customer's loan request and publish its state."""
    new = LoanRequest(**data.model_dump(), submitted_at=ctx.now())
    await ctx.save(new)
    ctx.emit(LoanRequestChanged(loan_request_id=new.id, **new.model_dump(exclude={"id"})), about=new)
    return new


@loan_request.on(CustomerRegistered)
async def customer_registered(ctx: Context, event: CustomerRegistered) -> None:
    """Event capture -> update data through a command."""
    await ctx.execute(
        open_credit_file,
        {"customer_id": event.customer_id, "customer_name": event.name, "segment": event.segment},
    )


@loan_request.query(http="GET /credit-files/{id}")
async def get_credit_file(ctx: Context, id: str) -> CreditFile:
    """One credit file by customer id."""
    return await ctx.get(CreditFile, id)


@loan_request.query(http="GET /loan-requests/{id}")
async def get_loan_request(ctx: Context, id: str) -> LoanRequest:
    """One loan request by id."""
    return await ctx.get(LoanRequest, id)


@loan_request.query(http="GET /loan-requests")
async def list_loan_requests(
    ctx: Context,
    customer_id: str | None = None,
    status: Status | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Page[LoanRequest]:
    """A page of loan requests in id order, optionally of one customer or status."""
    return await ctx.list(LoanRequest, where={"customer_id": customer_id, "status": status}, cursor=cursor, limit=limit)


# SEAM(on_notification): the state change notification from ``customer`` (thin ``CustomerChanged``, fetched back
# through ``customers``) is declared here once ``domain.on_notification`` exists.
# SEAM(handles/on_reply, saga): ``SendSms`` to ``customer_communication`` and the loan origination saga with
# ``credit_offer`` start from ``submit_loan_request``; their reply and status handlers go here.
