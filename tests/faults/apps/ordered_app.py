"""An accounts domain announcing postings, and a ledger keeping them in order per account (order-preserving
dead letters); the ledger refuses posting A#2 until the fix is deployed (``ORDERED_APP_FIXED=1``, or
``ordered_app.FIXED = True``). The ledger's book of each account lists the postings it applied, in order, so a
posting applied twice or out of turn shows there."""

from __future__ import annotations

import os

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.exceptions import BusinessRuleError

accounts = Domain("accounts")
ledger = Domain("ledger", ordered_dead_letters=True)
FIX_ENV = "ORDERED_APP_FIXED"
FIXED = False


@accounts.aggregate
class Account(Aggregate):
    """An account whose postings are announced about it."""

    postings: int = 0


@accounts.event
class Posted(PublicEvent):
    """A posting on an account, numbered per account."""

    account_id: str
    seq: int


class PostInput(BaseModel):
    """Input of post."""

    account_id: str
    seq: int


@accounts.command
async def post(ctx: Context, data: PostInput) -> None:
    """Record a posting and announce it about the account (its CloudEvents subject)."""
    account = await ctx.find(Account, data.account_id) or Account(id=data.account_id)
    account.postings += 1
    await ctx.save(account)
    ctx.emit(Posted(account_id=data.account_id, seq=data.seq), about=account)


@ledger.aggregate
class Book(Aggregate):
    """The postings of one account the ledger applied, in the order it applied them."""

    seqs: list[int] = []


@ledger.command
async def enter(ctx: Context, data: PostInput) -> None:
    """Append one posting to its account's book."""
    book = await ctx.find(Book, data.account_id) or Book(id=data.account_id)
    book.seqs.append(data.seq)
    await ctx.save(book)


@ledger.on(Posted)
async def on_posted(ctx: Context, event: Posted) -> None:
    """Enter the posting; A#2 is refused (a permanent failure: parked at once) until the fix."""
    if (event.account_id, event.seq) == ("A", 2) and not (FIXED or os.environ.get(FIX_ENV) == "1"):
        raise BusinessRuleError(f"posting {event.account_id}#{event.seq} refused")
    await ctx.execute(enter, PostInput(account_id=event.account_id, seq=event.seq))
