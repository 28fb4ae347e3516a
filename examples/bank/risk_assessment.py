"""The risk-assessment domain (assessment): scores loan requests on the customer data it keeps.

Patterns at work:

- Deferred update: a thin ``CustomerChanged`` only marks the customer's profile pending; the scoring query
  reads it through ``ctx.fresh``, which fetches the customer through the customer API (an External Service
  translated into its own ``CustomerFacts``) only when a score needs it. Customers change far more often
  than they are scored, so most changes never cost a fetch. When the customer API is down, the score is
  given on the copy kept here and says so (``stale``).
- API Exposure: the scoring query.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from examples.bank.customer import CustomerChanged
from examples.bank.owners import LICENSE, team
from interlink import Aggregate, Context, Domain

risk_assessment = Domain(
    "risk-assessment",
    description="Scores loan requests on what it knows of customers",
    version="1.2.0",
    contact=team("risk-assessment"),
    license=LICENSE,
)


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

    customer_id: str = Field(description="The customer scored.")
    amount: int = Field(description="The loan amount scored, in whole euros.")
    score: int = Field(ge=0, le=100, description="0 (no risk) to 100.")
    reasons: list[str] = Field(description="What raised the score.")
    stale: bool = Field(False, description="The customer API was down: the profile kept here may be behind.")


@risk_assessment.command
async def keep_profile(ctx: Context, data: CustomerFacts) -> None:
    """Keep the newest facts about a customer; an older or repeated version changes nothing."""
    profile = await ctx.find(CustomerProfile, data.id)
    if profile is not None and profile.customer_version >= data.version:
        return
    facts = {"segment": data.segment, "postcode": data.postcode, "city": data.city, "customer_version": data.version}
    profile = profile.model_copy(update=facts) if profile else CustomerProfile(id=data.id, **facts)
    await ctx.save(profile)


risk_assessment.deferred(
    CustomerChanged, fetch=customers, command=keep_profile, aggregate=CustomerProfile, when_source_down="stale",
    name="customers",
)  # fmt: skip


#: Postcode areas (first digit) with more defaults than the bank's average.
HIGH_DEFAULT_AREAS = frozenset("9")


@risk_assessment.query(http="GET /scores/{customer_id}")
async def score(ctx: Context, customer_id: str, amount: Annotated[int, Field(gt=0)]) -> RiskScore:
    """Score a loan of ``amount`` for a customer, on the profile kept here (brought up to date first)."""
    profile = await ctx.fresh(CustomerProfile, customer_id)
    points, reasons = 10, list[str]()
    if amount > 20_000:
        points, reasons = points + 30, [*reasons, f"amount {amount} above 20000"]
    if profile.segment == "business":
        points, reasons = points + 15, [*reasons, "business customer"]
    if profile.postcode is None:
        points, reasons = points + 25, [*reasons, "no known address"]
    elif profile.postcode[0] in HIGH_DEFAULT_AREAS:
        points, reasons = points + 20, [*reasons, f"postcode area {profile.postcode[0]}"]
    return RiskScore(customer_id=customer_id, amount=amount, score=min(points, 100), reasons=reasons, stale=ctx.stale)
