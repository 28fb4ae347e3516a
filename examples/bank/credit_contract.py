"""What ``credit_offer`` offers other domains: the command events it handles and the status events it publishes.

Kept apart from :mod:`examples.bank.credit_offer` so ``loan_request`` can send these commands and react to
these events without importing ``credit_offer``, which itself keeps a replica of ``loan_request``'s loan
requests (a module cycle otherwise).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from interlink import Command, Domain, PublicEvent

credit_offer = Domain("credit-offer", description="Credit limits and the offers reserved against them")

OfferStatus = Literal["reserved", "offered", "released"]


@credit_offer.command_message
class ReserveCredit(Command):
    """Reserve ``amount`` against the customer's credit limit for a loan request (saga step 1)."""

    loan_request_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(gt=0)


@credit_offer.command_message
class ReleaseCredit(Command):
    """Give a loan request's reservation back to the credit limit (the compensation of ``ReserveCredit``)."""

    loan_request_id: str = Field(min_length=1, max_length=64)


@credit_offer.command_message
class OfferCredit(Command):
    """Turn a loan request's reservation into a credit offer for ``term_months`` (saga step 2)."""

    loan_request_id: str = Field(min_length=1, max_length=64)
    term_months: int = Field(ge=1)


class CreditConfirmed(BaseModel):
    """The confirmation of each credit command: the offer's status afterwards and what is left on the limit."""

    loan_request_id: str
    status: OfferStatus
    available: int


@credit_offer.event
class CreditOfferChanged(PublicEvent):
    """An offer was reserved, offered or released."""

    offer_id: str
    loan_request_id: str
    customer_id: str
    amount: int
    status: OfferStatus
    version: int
