"""The credit-offer domain: credit limits per customer and the offers reserved against them.

Patterns at work:

- Command events with confirmations: ``ReserveCredit``, ``OfferCredit`` and ``ReleaseCredit`` (the steps and
  the compensation of ``loan_request``'s loan origination saga, declared in :mod:`examples.bank.credit_contract`)
  are handled here; a business rule that says no raises ``CommandRejected``, which travels back as the failure.
- Event-Carried State Transfer (consumer side): a replica of every loan request, kept from the fat
  ``LoanRequestChanged`` events alone, so reading one never calls ``loan_request`` back.
- Status events: every offer change publishes ``CreditOfferChanged``, which ``loan_request`` reacts to.
- API Exposure: offers, limits and the loan requests as copied here, over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from examples.bank.credit_contract import (
    CreditConfirmed,
    CreditOfferChanged,
    OfferCredit,
    OfferStatus,
    ReleaseCredit,
    ReserveCredit,
    credit_offer,
)
from examples.bank.loan_request_model import LoanRequestChanged
from interlink import Aggregate, CommandRejected, Context, Indexed, Replica
from interlink.core.pagination import Page

__all__ = ["DEFAULT_LIMIT", "MAX_TERM_MONTHS", "CreditLimit", "CreditOffer", "LoanRequestCopy", "credit_offer"]

#: The credit limit a customer starts with.
DEFAULT_LIMIT = 25_000
#: The longest term the bank offers credit for.
MAX_TERM_MONTHS = 120


class LoanRequestCopy(Replica):
    """What this domain reads of a loan request; id and version are the loan request's own."""

    customer_id: Annotated[str, Indexed()]
    amount: int
    term_months: int
    status: str


loan_requests = credit_offer.replica(LoanRequestChanged, model=LoanRequestCopy, name="loan-requests")


@credit_offer.aggregate
class CreditLimit(Aggregate):
    """A customer's credit limit (id: the customer id) and what is reserved against it, by loan request."""

    limit: int = Field(ge=0)
    reserved: dict[str, int] = {}

    @property
    def available(self) -> int:
        """What can still be reserved."""
        return self.limit - sum(self.reserved.values())


@credit_offer.aggregate
class CreditOffer(Aggregate):
    """The credit offered on one loan request (id: the loan request id)."""

    customer_id: str
    amount: int
    status: OfferStatus
    changed_at: datetime


async def _changed(ctx: Context, offer: CreditOffer, limit: CreditLimit) -> CreditConfirmed:
    await ctx.save(offer)
    ctx.emit(
        CreditOfferChanged(
            offer_id=offer.id, loan_request_id=offer.id, customer_id=offer.customer_id, amount=offer.amount,
            status=offer.status, version=offer.version,
        ),
        about=offer,
    )  # fmt: skip
    return CreditConfirmed(loan_request_id=offer.id, status=offer.status, available=limit.available)


async def _limit(ctx: Context, customer_id: str) -> CreditLimit:
    return await ctx.find(CreditLimit, customer_id) or CreditLimit(id=customer_id, limit=DEFAULT_LIMIT)


@credit_offer.handles(ReserveCredit)
async def reserve_credit(ctx: Context, command: ReserveCredit) -> CreditConfirmed:
    """Reserve the amount against the customer's limit; rejected beyond what is still available."""
    limit = await _limit(ctx, command.customer_id)
    if command.amount > limit.available:
        raise CommandRejected(
            f"loan request {command.loan_request_id}: {command.amount} exceeds the {limit.available} still "
            f"available on customer {command.customer_id}'s credit limit of {limit.limit}"
        )
    limit.reserved = {**limit.reserved, command.loan_request_id: command.amount}
    await ctx.save(limit)
    offer = CreditOffer(id=command.loan_request_id, customer_id=command.customer_id, amount=command.amount,
                        status="reserved", changed_at=ctx.now())  # fmt: skip
    return await _changed(ctx, offer, limit)


@credit_offer.handles(OfferCredit)
async def offer_credit(ctx: Context, command: OfferCredit) -> CreditConfirmed:
    """Offer the reserved credit; rejected for a term beyond what the bank offers."""
    offer = await ctx.get(CreditOffer, command.loan_request_id)
    if command.term_months > MAX_TERM_MONTHS:
        raise CommandRejected(
            f"loan request {command.loan_request_id}: a term of {command.term_months} months is beyond the "
            f"{MAX_TERM_MONTHS} months the bank offers credit for"
        )
    offer = offer.model_copy(update={"status": "offered", "changed_at": ctx.now()})
    return await _changed(ctx, offer, await _limit(ctx, offer.customer_id))


@credit_offer.handles(ReleaseCredit)
async def release_credit(ctx: Context, command: ReleaseCredit) -> CreditConfirmed:
    """Give a reserved amount back to the customer's limit (the saga's compensation)."""
    offer = await ctx.get(CreditOffer, command.loan_request_id)
    limit = await _limit(ctx, offer.customer_id)
    limit.reserved = {k: v for k, v in limit.reserved.items() if k != offer.id}
    await ctx.save(limit)
    offer = offer.model_copy(update={"status": "released", "changed_at": ctx.now()})
    return await _changed(ctx, offer, limit)


@credit_offer.query(http="GET /credit-offers/{id}")
async def get_credit_offer(ctx: Context, id: str) -> CreditOffer:
    """The offer on one loan request."""
    return await ctx.get(CreditOffer, id)


@credit_offer.query(http="GET /credit-limits/{id}")
async def get_credit_limit(ctx: Context, id: str) -> CreditLimit:
    """One customer's credit limit and its reservations."""
    return await ctx.get(CreditLimit, id)


@credit_offer.query(http="GET /loan-request-copies")
async def list_loan_request_copies(
    ctx: Context,
    customer_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Page[LoanRequestCopy]:
    """The loan requests as this domain's replica holds them, optionally of one customer."""
    return await ctx.replicas(LoanRequestCopy, where={"customer_id": customer_id}, cursor=cursor, limit=limit)
