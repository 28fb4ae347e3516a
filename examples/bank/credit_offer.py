"""The credit-offer domain: credit limits per customer and the offers reserved against them.

Patterns at work:

- API Exposure: reserve and release credit, read offers and limits over HTTP.
- Event-Carried State Transfer (consumer side): a local copy of every loan request, kept from the fat
  ``LoanRequestChanged`` events alone, so a reservation never calls ``loan_request`` back.
- Status events: every offer change publishes ``CreditOfferChanged``.

SEAM(replica): ``loan_request_changed`` is a plain handler today; ``credit_offer.replica(LoanRequestChanged,
...)`` replaces it (and ``LoanRequestCopy``) once ``domain.replica`` exists.
SEAM(handles/saga): ``reserve_credit`` and ``release_credit`` become the handlers of the saga's reserve and
release command events (``credit_offer.handles(ReserveCredit)``), replying with the offer's status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from examples.bank.loan_request import LoanRequestChanged
from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.exceptions import BusinessRuleError

credit_offer = Domain("credit-offer", description="Credit limits and the offers reserved against them")

#: The credit limit a customer starts with.
DEFAULT_LIMIT = 25_000
OfferStatus = Literal["reserved", "released"]


@credit_offer.aggregate
class LoanRequestCopy(Aggregate):
    """What this domain knows of a loan request, from ``LoanRequestChanged`` (its ``source_version``)."""

    customer_id: str
    amount: int
    term_months: int
    status: str
    source_version: int


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


@credit_offer.event
class CreditOfferChanged(PublicEvent):
    """An offer was reserved or released."""

    offer_id: str
    loan_request_id: str
    customer_id: str
    amount: int
    status: OfferStatus
    version: int


class RecordLoanRequest(BaseModel):
    """Input of record_loan_request: the state a ``LoanRequestChanged`` carries."""

    loan_request_id: str
    version: int
    customer_id: str
    amount: int
    term_months: int
    status: str


class ReserveCredit(BaseModel):
    """Input of reserve_credit."""

    loan_request_id: str = Field(min_length=1, max_length=64)


class ReleaseCredit(BaseModel):
    """Input of release_credit."""

    loan_request_id: str = Field(min_length=1, max_length=64)


@credit_offer.command
async def record_loan_request(ctx: Context, data: RecordLoanRequest) -> None:
    """Keep the newest state of a loan request; an older or repeated version changes nothing."""
    copy = await ctx.find(LoanRequestCopy, data.loan_request_id)
    if copy is not None and copy.source_version >= data.version:
        return
    fields = data.model_dump(exclude={"loan_request_id", "version"})
    if copy is None:
        copy = LoanRequestCopy(id=data.loan_request_id, source_version=data.version, **fields)
    else:
        copy = copy.model_copy(update={**fields, "source_version": data.version})
    await ctx.save(copy)


@credit_offer.on(LoanRequestChanged)
async def loan_request_changed(ctx: Context, event: LoanRequestChanged) -> None:
    """Keep the local copy of the loan request (SEAM(replica): ``domain.replica`` takes this over)."""
    await ctx.execute(record_loan_request, event.model_dump(exclude={"purpose", "submitted_at"}))


def _changed(ctx: Context, offer: CreditOffer) -> None:
    ctx.emit(
        CreditOfferChanged(
            offer_id=offer.id, loan_request_id=offer.id, customer_id=offer.customer_id, amount=offer.amount,
            status=offer.status, version=offer.version,
        ),
        about=offer,
    )  # fmt: skip


@credit_offer.command(http="POST /credit-offers")
async def reserve_credit(ctx: Context, data: ReserveCredit) -> CreditOffer:
    """Reserve the loan request's amount against its customer's limit; refused beyond the limit."""
    request = await ctx.get(LoanRequestCopy, data.loan_request_id)
    offer = await ctx.find(CreditOffer, request.id)
    if offer is not None and offer.status == "reserved":
        return offer  # reserving twice is reserving once
    limit = await ctx.find(CreditLimit, request.customer_id)
    if limit is None:
        limit = CreditLimit(id=request.customer_id, limit=DEFAULT_LIMIT)
    if request.amount > limit.available:
        raise BusinessRuleError(
            f"loan request {request.id}: {request.amount} exceeds the {limit.available} still available "
            f"on customer {request.customer_id}'s credit limit of {limit.limit}"
        )
    limit.reserved = {**limit.reserved, request.id: request.amount}
    await ctx.save(limit)
    offer = (offer or CreditOffer(id=request.id, customer_id=request.customer_id, amount=0, status="reserved",
                                  changed_at=ctx.now()))  # fmt: skip
    offer = offer.model_copy(update={"amount": request.amount, "status": "reserved", "changed_at": ctx.now()})
    await ctx.save(offer)
    _changed(ctx, offer)
    return offer


@credit_offer.command(http="POST /credit-offers/{loan_request_id}/release")
async def release_credit(ctx: Context, data: ReleaseCredit) -> CreditOffer:
    """Give a reserved amount back to the customer's limit (the saga's compensation)."""
    offer = await ctx.get(CreditOffer, data.loan_request_id)
    if offer.status == "released":
        return offer
    limit = await ctx.get(CreditLimit, offer.customer_id)
    limit.reserved = {k: v for k, v in limit.reserved.items() if k != offer.id}
    await ctx.save(limit)
    offer = offer.model_copy(update={"status": "released", "changed_at": ctx.now()})
    await ctx.save(offer)
    _changed(ctx, offer)
    return offer


@credit_offer.query(http="GET /credit-offers/{id}")
async def get_credit_offer(ctx: Context, id: str) -> CreditOffer:
    """The offer on one loan request."""
    return await ctx.get(CreditOffer, id)


@credit_offer.query(http="GET /credit-limits/{id}")
async def get_credit_limit(ctx: Context, id: str) -> CreditLimit:
    """One customer's credit limit and its reservations."""
    return await ctx.get(CreditLimit, id)
