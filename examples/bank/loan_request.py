"""The loan-request domain (process): loan requests from submission to decision, and the credit files behind them.

Patterns at work:

- API Exposure: submit, get and list loan requests over HTTP.
- State Change Notification: on the thin ``CustomerChanged`` it fetches the customer back through the
  customer API at once and keeps what it needs (name, segment, phone) as a ``Borrower``.
- Event capture: a credit file is opened for every new customer from ``CustomerRegistered``.
- Event-Carried State Transfer: every change publishes the fat ``LoanRequestChanged``, carrying the loan
  request's whole state, so ``credit_offer`` keeps its own copy without calling back.
- Command events and the loan origination saga: submitting starts the saga with ``credit_offer`` and sends
  the customer an SMS (see :mod:`examples.bank.loan_origination`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from examples.bank.customer import CustomerChanged, CustomerRegistered
from examples.bank.loan_origination import Origination, origination, save_and_publish, send_sms
from examples.bank.loan_request_model import (
    Borrower,
    CreditFile,
    CustomerSummary,
    LoanRequest,
    Segment,
    Status,
    customers,
    loan_request,
)
from interlink import Context
from interlink.core.pagination import Page
from interlink.exceptions import BusinessRuleError

__all__ = ["LoanRequest", "loan_request"]


class OpenCreditFile(BaseModel):
    """Input of the open-credit-file command."""

    customer_id: str
    customer_name: str
    segment: Segment


class SubmitLoanRequest(BaseModel):
    """Input of the submit command."""

    id: str = Field(min_length=1, max_length=64, description="The loan request's id, chosen by the caller.")
    customer_id: str = Field(min_length=1, max_length=64, description="The customer asking for the loan.")
    amount: int = Field(gt=0, le=5_000_000, description="The amount asked for, in whole euros.")
    term_months: int = Field(ge=6, le=360, description="Months over which the loan is repaid.")
    purpose: str = Field(min_length=1, max_length=200, description="What the loan is for.")


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


@loan_request.command
async def keep_borrower(ctx: Context, data: CustomerSummary) -> Borrower:
    """Keep the customer data fetched back on a notification (the newest version wins)."""
    found = await ctx.find(Borrower, data.customer_id)
    if found is not None and found.customer_version >= data.version:
        return found
    fields = {"name": data.name, "segment": data.segment, "phone": data.phone, "customer_version": data.version}
    kept = found.model_copy(update=fields) if found else Borrower(id=data.customer_id, **fields)
    await ctx.save(kept)
    return kept


loan_request.on_notification(CustomerChanged, fetch=customers, command=keep_borrower, name="customers")


@loan_request.command(http="POST /loan-requests")
async def submit_loan_request(ctx: Context, data: SubmitLoanRequest) -> LoanRequest:
    """Take a customer's loan request, publish its state, start its origination and tell the customer."""
    if await ctx.find(Borrower, data.customer_id) is None:
        raise BusinessRuleError(f"loan request {data.id}: customer {data.customer_id} is not known here (yet)")
    saga_id = await ctx.start_saga(origination, Origination(loan_request_id=data.id, **data.model_dump(
        include={"customer_id", "amount", "term_months"})))  # fmt: skip
    new = LoanRequest(**data.model_dump(), saga_id=saga_id, submitted_at=ctx.now())
    await save_and_publish(ctx, new)
    await send_sms(ctx, new, "received", f"we received your loan request {new.id} for EUR {new.amount}.")
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
