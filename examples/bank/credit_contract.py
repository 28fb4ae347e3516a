"""What ``credit_offer`` offers other domains: the command events it handles and the status events it publishes.

Kept apart from :mod:`examples.bank.credit_offer` so ``loan_request`` can send these commands and react to
these events without importing ``credit_offer``, which itself keeps a replica of ``loan_request``'s loan
requests (a module cycle otherwise).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from examples.bank.owners import LICENSE, team
from interlink import Command, Domain, PublicEvent

credit_offer = Domain(
    "credit-offer",
    description="Credit limits and the offers reserved against them",
    version="2.1.0",
    contact=team("credit-offer"),
    license=LICENSE,
)

OfferStatus = Literal["reserved", "offered", "released"]


@credit_offer.command_message
class ReserveCredit(Command):
    """Reserve ``amount`` against the customer's credit limit for a loan request (saga step 1)."""

    loan_request_id: str = Field(min_length=1, max_length=64, description="The loan request.", examples=["L2001"])
    customer_id: str = Field(min_length=1, max_length=64, description="Whose limit to use.", examples=["C1001"])
    amount: int = Field(gt=0, description="The amount to reserve, in whole euros.", examples=[25000])


@credit_offer.command_message
class ReleaseCredit(Command):
    """Give a loan request's reservation back to the credit limit (the compensation of ``ReserveCredit``)."""

    loan_request_id: str = Field(min_length=1, max_length=64, description="The loan request.", examples=["L2001"])


@credit_offer.command_message
class OfferCredit(Command):
    """Turn a loan request's reservation into a credit offer for ``term_months`` (saga step 2)."""

    loan_request_id: str = Field(min_length=1, max_length=64, description="The loan request.", examples=["L2001"])
    term_months: int = Field(ge=1, description="Months of the offer.", examples=[60])


class CreditConfirmed(BaseModel):
    """The confirmation of each credit command: the offer's status afterwards and what is left on the limit."""

    loan_request_id: str = Field(description="The loan request.", examples=["L2001"])
    status: OfferStatus = Field(description="The offer's status afterwards.", examples=["reserved"])
    available: int = Field(description="What is left on the credit limit, in whole euros.", examples=[25000])


@credit_offer.event
class CreditOfferChanged(PublicEvent):
    """An offer was reserved, offered or released."""

    offer_id: str = Field(description="The offer.", examples=["L2001"])
    loan_request_id: str = Field(description="The loan request it is for.", examples=["L2001"])
    customer_id: str = Field(description="The customer.", examples=["C1001"])
    amount: int = Field(description="The amount, in whole euros.", examples=[25000])
    status: OfferStatus = Field(description="The offer's status after the change.", examples=["reserved"])
    version: int = Field(description="The offer's version after the change.", examples=[1])
