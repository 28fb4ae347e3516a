"""A ledger that keeps order per account (order-preserving dead letters), fed by an accounts domain, and the
scenarios the tests run on every store x broker pair and on the in-memory backends."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.exceptions import BusinessRuleError, PreconditionFailed
from interlink.ports.store import HELD, DeadLetter
from interlink.runtime import Runtime, Settings
from interlink.runtime.replay import discard_letters
from interlink.testing.waiting import wait_until

accounts = Domain("accounts")
ledger = Domain("ledger", ordered_dead_letters=True)


@accounts.aggregate
class Account(Aggregate):
    """An account whose postings are announced in order."""

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


#: (account, seq) of the postings the ledger refuses until a test lifts it; what it applied, in order.
refused: set[tuple[str, int]] = set()
applied: list[tuple[str, int]] = []


@ledger.on(Posted)
async def on_posted(ctx: Context, event: Posted) -> None:
    """Apply a posting, unless it is refused (a permanent failure: parked at once)."""
    if (event.account_id, event.seq) in refused:
        raise BusinessRuleError(f"posting {event.account_id}#{event.seq} refused")
    applied.append((event.account_id, event.seq))


def of(account: str) -> list[int]:
    return [seq for a, seq in applied if a == account]


async def parked_behind(rt: Runtime) -> list[DeadLetter]:
    """Post A1..A4 (A2 refused) interleaved with B1..B3; return A's letters once B went through."""
    refused.clear()
    applied.clear()
    refused.add(("A", 2))
    for seq in (1, 2, 3, 4):
        await rt["accounts"].execute(post, {"account_id": "A", "seq": seq})
        if seq < 4:
            await rt["accounts"].execute(post, {"account_id": "B", "seq": seq})
    store = rt["ledger"].store

    async def queued() -> list[DeadLetter] | None:
        letters = await store.dead_letters()
        return letters if len(letters) == 3 and of("B") == [1, 2, 3] else None

    letters: list[DeadLetter] = await wait_until(queued, timeout=30, what="B applied and A's letters parked")
    assert of("A") == [1]
    assert [(d.message_type, d.error_class) for d in letters] == [
        ("accounts.Posted", "permanent"),
        ("accounts.Posted", HELD),
        ("accounts.Posted", HELD),
    ]
    assert {d.ordering_key for d in letters} == {"accounts/A"}
    return letters


def settings(store: str, broker: str, **more: object) -> Settings:
    """Settings for a quick test: short polls, one consumer (so one batch sees the messages in their order)."""
    return Settings(
        store_url=store,
        broker_url=broker,
        relay_poll_interval=0.05,
        fetch_wait=0.05,
        consumers_per_domain=1,
        **more,  # type: ignore[arg-type]
    )


async def replayed(store_url: str, broker_url: str) -> None:
    """A2 parked holds A3 and A4 (and A5, sent later) but not B; its replay after the fix applies A2..A5 in order."""
    async with Runtime([accounts, ledger], settings(store_url, broker_url)) as rt:
        first, third, _ = await parked_behind(rt)
        await rt["accounts"].execute(post, {"account_id": "A", "seq": 5})
        store = rt["ledger"].store

        async def five() -> bool:
            return len(await store.dead_letters()) == 4

        await wait_until(five, timeout=30, what="A5 held behind A2")
        assert third.id is not None
        assert first.id is not None
        with pytest.raises(PreconditionFailed, match="waits behind"):
            await rt["ledger"].replay_dead_letter(third.id)
        refused.clear()
        await rt["ledger"].replay_dead_letter(first.id)
        assert of("A") == [1, 2, 3, 4, 5]
        assert await store.dead_letters() == []
        await rt["accounts"].execute(post, {"account_id": "A", "seq": 6})
        await wait_until(lambda: of("A")[-1:] == [6], timeout=30, what="A6 applied at once")
        assert of("A") == [1, 2, 3, 4, 5, 6]


async def discarded(store_url: str, broker_url: str) -> None:
    """A2 discarded from the store alone (as the CLI does): the runtime hands A3 then A4 to the handler."""
    async with Runtime([accounts, ledger], settings(store_url, broker_url, redrive_interval=0.05)) as rt:
        first, *_ = await parked_behind(rt)
        assert first.id is not None
        store = rt["ledger"].store
        await discard_letters(store, [first.id])

        async def drained() -> bool:
            return await store.dead_letters() == []

        await wait_until(drained, timeout=30, what="A3 and A4 handled after the discard")
        assert of("A") == [1, 3, 4]
