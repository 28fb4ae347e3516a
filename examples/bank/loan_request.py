"""The loan-request domain: opens a credit file for every new customer, from the customer's event."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from examples.bank.customer import CustomerRegistered
from interlink import Aggregate, Context, Domain

loan_request = Domain("loan-request", description="Loan requests and the credit files behind them")


@loan_request.aggregate
class CreditFile(Aggregate):
    """What the loan domain keeps about a customer, in its own language."""

    customer_name: str
    segment: Literal["retail", "business"]
    opened_at: datetime


class OpenCreditFile(BaseModel):
    """Input of the open-credit-file command."""

    customer_id: str
    customer_name: str
    segment: Literal["retail", "business"]


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
