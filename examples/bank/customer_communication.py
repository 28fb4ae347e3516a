"""The customer-communication domain: the SMS the bank sends its customers.

Patterns at work:

- API Exposure: send an SMS and read it back over HTTP.

SEAM(handles): ``send_sms`` becomes the handler of the ``SendSms`` command event from ``loan_request``
(``customer_communication.handles(SendSms)``), replying ``SmsSent``; until then other domains reach it
through its API only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain
from interlink.core.pagination import Page

customer_communication = Domain("customer-communication", description="Messages the bank sends its customers")

PHONE = r"^\+[1-9][0-9]{7,14}$"


@customer_communication.aggregate
class Sms(Aggregate):
    """One text message to a customer (id: chosen by the sender, so a resend is the same SMS)."""

    customer_id: str
    phone: str
    text: str
    status: Literal["sent"] = "sent"
    sent_at: datetime


class SendSmsRequest(BaseModel):
    """Input of send_sms."""

    id: str = Field(min_length=1, max_length=100)
    customer_id: str = Field(min_length=1, max_length=64)
    phone: str = Field(pattern=PHONE)
    text: str = Field(min_length=1, max_length=480)


@customer_communication.command(http="POST /sms")
async def send_sms(ctx: Context, data: SendSmsRequest) -> Sms:
    """Send a text message once: a second request with the same id returns the SMS already sent."""
    existing = await ctx.find(Sms, data.id)
    if existing is not None:
        return existing
    sms = Sms(**data.model_dump(), sent_at=ctx.now())
    await ctx.save(sms)
    return sms


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
