"""The risk-assessment domain (assessment): scores loan requests on the customer data it keeps.

Patterns at work:

- Thin notification with fetch-back: on ``CustomerChanged`` it reads the customer through the customer API
  (an External Service translated into its own ``CustomerProfile``) and keeps that copy.
- API Exposure: the scoring query.

SEAM(deferred): ``customer_changed`` fetches at once today. With ``risk_assessment.deferred(CustomerChanged,
...)`` it will only mark the profile stale, and ``score`` will read it through ``ctx.fresh`` (fetching the
customer only when a score needs it).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from examples.bank.customer import CustomerChanged
from interlink import Aggregate, Context, Domain

risk_assessment = Domain("risk-assessment", description="Scores loan requests on what it knows of customers")


class CustomerFacts(BaseModel):
    """A customer as risk assessment sees it: translated from the customer API's payload."""

    id: str
    version: int
    segment: str
    postcode: str | None
    city: str | None


def _to_facts(payload: Any) -> CustomerFacts:
    address = payload.get("address") or {}
    return CustomerFacts(
        id=payload["id"], version=payload["version"], segment=payload["segment"],
        postcode=address.get("postcode"), city=address.get("city"),
    )  # fmt: skip


#: The customer API, where the thin notifications point.
customers = risk_assessment.external_service(
    "customer", resource="/customers/{id}", translate=_to_facts, base_url="http://127.0.0.1:8000/customer"
)


@risk_assessment.aggregate
class CustomerProfile(Aggregate):
    """What risk assessment keeps of a customer (id: the customer id), as of ``customer_version``."""

    segment: str
    postcode: str | None = None
    city: str | None = None
    customer_version: int


class RiskScore(BaseModel):
    """A score from 0 (no risk) to 100, with the reasons that raised it."""

    customer_id: str
    amount: int
    score: int
    reasons: list[str]


@risk_assessment.command
async def keep_profile(ctx: Context, data: CustomerFacts) -> None:
    """Keep the newest facts about a customer; an older or repeated version changes nothing."""
    profile = await ctx.find(CustomerProfile, data.id)
    if profile is not None and profile.customer_version >= data.version:
        return
    facts = {"segment": data.segment, "postcode": data.postcode, "city": data.city, "customer_version": data.version}
    profile = profile.model_copy(update=facts) if profile else CustomerProfile(id=data.id, **facts)
    await ctx.save(profile)


@risk_assessment.on(CustomerChanged)
async def customer_changed(ctx: Context, event: CustomerChanged) -> None:
    """Fetch the changed customer back and keep it (SEAM(deferred): mark stale instead, fetch in ``score``)."""
    facts = await ctx.fetch(customers, id=event.customer_id)
    await ctx.execute(keep_profile, facts)


#: Postcode areas (first digit) with more defaults than the bank's average.
HIGH_DEFAULT_AREAS = frozenset("9")


@risk_assessment.query(http="GET /scores/{customer_id}")
async def score(ctx: Context, customer_id: str, amount: Annotated[int, Field(gt=0)]) -> RiskScore:
    """Score a loan of ``amount`` for a customer, on the profile kept here."""
    profile = await ctx.get(CustomerProfile, customer_id)
    points, reasons = 10, list[str]()
    if amount > 20_000:
        points, reasons = points + 30, [*reasons, f"amount {amount} above 20000"]
    if profile.segment == "business":
        points, reasons = points + 15, [*reasons, "business customer"]
    if profile.postcode is None:
        points, reasons = points + 25, [*reasons, "no known address"]
    elif profile.postcode[0] in HIGH_DEFAULT_AREAS:
        points, reasons = points + 20, [*reasons, f"postcode area {profile.postcode[0]}"]
    return RiskScore(customer_id=customer_id, amount=amount, score=min(points, 100), reasons=reasons)
