"""Two domains for the Event-Carried State Transfer tests: a producer of fat events and a consumer's replica.

``loan-request`` changes and deletes loan requests (over HTTP too) and emits ``LoanRequestChanged``, the
loan's state after each change or its tombstone; its list query ``GET /loan-requests`` is what a rebuild
pages through. ``credit`` keeps a ``LoanCopy`` replica named ``loans`` and reads it in a query.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain
from interlink.core.pagination import Page
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent

__all__ = ["ChangeLoan", "LoanCopy", "LoanRequest", "LoanRequestChanged", "change_loan", "copies", "credit",
           "delete_loan", "list_loans", "loans"]  # fmt: skip

loans = Domain("loan-request")
credit = Domain("credit")


@loans.aggregate
class LoanRequest(Aggregate):
    """A loan request; ``customer`` is not part of the fat event."""

    amount: Decimal
    status: str
    customer: str = "c-1"


@loans.event
class LoanRequestChanged(StateTransferEvent):
    """The state of a loan request after a change."""

    amount: Decimal
    status: str


class ChangeLoan(BaseModel):
    """Input of change_loan."""

    id: str
    amount: Decimal
    status: str


class LoanId(BaseModel):
    """Input of delete_loan."""

    id: str


@loans.command(http="POST /loan-requests")
async def change_loan(ctx: Context, data: ChangeLoan) -> None:
    """Create or change a loan request and emit its new state."""
    loan = await ctx.find(LoanRequest, data.id) or LoanRequest(id=data.id, amount=data.amount, status=data.status)
    loan.amount, loan.status = data.amount, data.status
    await ctx.save(loan)
    ctx.emit(LoanRequestChanged.of(loan), about=loan)


@loans.command(http="POST /loan-request-deletions")
async def delete_loan(ctx: Context, data: LoanId) -> None:
    """Delete a loan request and emit its tombstone."""
    loan = await ctx.get(LoanRequest, data.id)
    await ctx.delete(loan)
    ctx.emit(LoanRequestChanged.tombstone(loan), about=loan)


@loans.query(http="GET /loan-requests")
async def list_loans(ctx: Context, cursor: str | None = None, limit: int = 50) -> Page[LoanRequest]:
    """The producer's list query a rebuild pages through."""
    return await ctx.list(LoanRequest, cursor=cursor, limit=limit)


class LoanCopy(Replica):
    """What credit needs of a loan request."""

    status: str
    amount: Decimal


@credit.query
async def copies(ctx: Context) -> dict[str, tuple[int, str, Decimal]]:
    """Every live copy: id -> (version, status, amount)."""
    found: dict[str, tuple[int, str, Decimal]] = {}
    cursor: str | None = None
    while True:
        page = await ctx.replicas(LoanCopy, cursor=cursor, limit=200)
        found |= {c.id: (c.version, c.status, c.amount) for c in page.items}
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


loan_api = credit.external_service("loan-api", resource="/loan-requests", translate=lambda raw: raw)
credit.replica(LoanRequestChanged, model=LoanCopy, name="loans", source=loan_api)
