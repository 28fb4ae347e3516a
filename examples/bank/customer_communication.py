"""The customer-communication domain: the SMS the bank sends its customers.

Patterns at work:

- Command events with confirmations: ``SendSms`` from ``loan_request`` is handled here and answered with
  ``SmsSent``; the framework runs each command once however often it is delivered, so ``requests`` on an
  ``Sms`` stays 1 (the day checks it after an outage of this domain).
- API Exposure: read the SMS sent over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Command, Context, Domain, Indexed
from interlink.core.pagination import Page

customer_communication = Domain("customer-communication", description="Messages the bank sends its customers")

PHONE = r"^\+[1-9][0-9]{7,14}$"


@customer_communication.aggregate
class Sms(Aggregate):
    """One text message to a customer (id: chosen by the sender); ``requests``: how often it was asked for."""

    customer_id: Annotated[str, Indexed()]
    phone: str
    text: str
    status: Literal["sent"] = "sent"
    requests: int = 1
    sent_at: datetime


class SendSms(Command):
    """Send a text message to a customer; the sender chooses its id."""

    sms_id: str = Field(min_length=1, max_length=100)
    customer_id: str = Field(min_length=1, max_length=64)
    phone: str = Field(pattern=PHONE)
    text: str = Field(min_length=1, max_length=480)


class SmsSent(BaseModel):
    """The confirmation of ``SendSms``."""

    sms_id: str
    sent_at: datetime


@customer_communication.handles(SendSms)
async def send_sms(ctx: Context, command: SendSms) -> SmsSent:
    """Send the SMS; the same id asked for again is counted, not sent again."""
    sms = await ctx.find(Sms, command.sms_id)
    if sms is None:
        sms = Sms(id=command.sms_id, customer_id=command.customer_id, phone=command.phone, text=command.text,
                  sent_at=ctx.now())  # fmt: skip
    else:
        sms.requests += 1
    await ctx.save(sms)
    return SmsSent(sms_id=sms.id, sent_at=sms.sent_at)


@customer_communication.query(http="GET /sms/{id}")
async def get_sms(ctx: Context, id: str) -> Sms:
    """One SMS by id."""
    return await ctx.get(Sms, id)


@customer_communication.query(http="GET /sms")
async def list_sms(
    ctx: Context,
    customer_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Page[Sms]:
    """A page of SMS in id order, optionally to one customer."""
    return await ctx.list(Sms, where={"customer_id": customer_id}, cursor=cursor, limit=limit)
