"""A ledger that refuses negative postings, for the operations tests: its failures park dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.delivery.failures import failure_details
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import ChangeSet, DeadLetter, Store

bank = Domain("ops-bank")
ledger = Domain("ledger")


@bank.event
class Posted(PublicEvent):
    """An amount was posted to an account."""

    account: str
    amount: int


@ledger.aggregate
class Balance(Aggregate):
    """The sum of the postings applied to an account."""

    total: int = 0
    postings: int = 0


class Apply(BaseModel):
    """Input of apply_posting."""

    account: str
    amount: int


@ledger.command
async def apply_posting(ctx: Context, data: Apply) -> None:
    """Add one posting to the account's balance."""
    balance = await ctx.find(Balance, data.account) or Balance(id=data.account)
    balance.total += data.amount
    balance.postings += 1
    await ctx.save(balance)


def check_amount(amount: int) -> None:
    """Refuse a negative amount (the bug that parks letters)."""
    if amount < 0:
        raise ValueError(f"negative amount {amount}")


@ledger.on(Posted)
async def posted(ctx: Context, event: Posted) -> None:
    """Apply the posting, refusing negative amounts."""
    check_amount(event.amount)
    await ctx.execute(apply_posting, {"account": event.account, "amount": event.amount})


def posted_envelope(account: str, amount: int) -> Envelope:
    """The envelope of Posted(account, amount), as the bank would publish it."""
    return Envelope(
        id=new_message_id(),
        source=bank.name,
        type=Posted.message_type(),
        subject=account,
        time=datetime.now(UTC),
        data={"account": account, "amount": amount},
    )


async def park_posting(store: Store, account: str, amount: int, *, subscription: str = "ledger") -> DeadLetter:
    """Park Posted(account, amount) as the consumer does when its handler raised."""
    envelope = posted_envelope(account, amount)
    try:
        check_amount(amount) if amount < 0 else int("x")
    except ValueError as exc:
        trace, frame = failure_details(exc)
        error = f"ValueError: {exc}"
    letter = DeadLetter(
        subscription, envelope.id, envelope.type, envelope.encode(), error, 3, datetime.now(UTC),
        error_class="poison", traceback=trace, top_frame=frame,
    )  # fmt: skip
    await store.commit([ChangeSet(dead_letters=[letter])])
    (stored,) = [d for d in await store.dead_letters(limit=10_000) if d.message_id == envelope.id]
    return stored
