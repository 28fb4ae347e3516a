"""A domain whose command waits at a gate (a file), so a test can kill the process while it runs.

``POST /transfers`` waits while the file named in the body exists (at most a minute), then books the
transfer and emits one event: a test holds the gate, kills the process mid-command, opens the gate and
retries on a new process.
"""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PublicEvent

gated = Domain("gated", description="A command that waits at a gate")


@gated.aggregate
class Transfer(Aggregate):
    """A booked transfer."""

    amount: int


@gated.event
class TransferBooked(PublicEvent):
    """A transfer was booked."""

    transfer_id: str
    amount: int


class BookTransfer(BaseModel):
    """Input of book_transfer: the transfer and the gate file it waits on."""

    id: str = Field(min_length=1, max_length=64)
    amount: int = Field(gt=0)
    gate: str = Field(min_length=1, max_length=500)


@gated.command(http="POST /transfers")
async def book_transfer(ctx: Context, data: BookTransfer) -> Transfer:
    """Wait while the gate file exists, then book the transfer once (a second booking is a 409)."""
    for _ in range(1200):
        # A stat of a local file: quick enough to make on the event loop between two sleeps.
        if not os.path.exists(data.gate):  # noqa: ASYNC240
            break
        await asyncio.sleep(0.05)
    transfer = Transfer(id=data.id, amount=data.amount)
    await ctx.save(transfer)
    ctx.emit(TransferBooked(transfer_id=transfer.id, amount=transfer.amount), about=transfer)
    return transfer


@gated.query(http="GET /transfers/{id}")
async def get_transfer(ctx: Context, id: str) -> Transfer:
    """One transfer by id."""
    return await ctx.get(Transfer, id)
