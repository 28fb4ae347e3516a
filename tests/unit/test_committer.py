"""Group commit over the in-memory store: few transactions, and one bad change set fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.committer import Committer
from interlink.exceptions import ConcurrencyError, DuplicateMessage, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, InboxMark, StoredAggregate

SUB = "accounts.handlers"


class CountingStore(MemoryStore):
    """A memory store that counts its transactions and can hold them until released."""

    def __init__(self) -> None:
        super().__init__("memory://", domain="accounts")
        self.groups: list[int] = []
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.fail_with: Exception | None = None

    async def commit(self, changes: Sequence[ChangeSet]) -> None:
        self.groups.append(len(changes))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        await super().commit(changes)


def create(id: str) -> ChangeSet:
    message = OutgoingMessage(f"msg-{id}", "accounts.events", "accounts.AccountOpened", b"{}")
    return ChangeSet(writes=[AggregateWrite("Account", id, 0, 1, "{}")], outbox=[message])


def stale_update(id: str) -> ChangeSet:
    return ChangeSet(writes=[AggregateWrite("Account", id, 7, 8, "{}")])


def mark(message_id: str, id: str | None = None) -> ChangeSet:
    change = create(id) if id is not None else ChangeSet()
    change.inbox.append(InboxMark(SUB, message_id))
    return change


@pytest.fixture
async def store() -> AsyncIterator[CountingStore]:
    """A connected counting store."""
    async with CountingStore() as store:
        yield store


async def stored_ids(store: MemoryStore, ids: Sequence[str]) -> list[str]:
    return [id for id in ids if await store.load("Account", id) is not None]


async def test_concurrent_commits_are_grouped(store: CountingStore) -> None:
    """A hundred concurrent commits are applied in far fewer store transactions, and every one lands."""
    committer = Committer(store)
    ids = [f"a-{n}" for n in range(100)]
    await asyncio.gather(*(committer.commit(create(id)) for id in ids))
    assert await stored_ids(store, ids) == ids
    assert len(store.groups) <= 10
    assert sum(store.groups) == 100
    assert (await store.outbox_status()).pending == 100


async def test_commits_arriving_during_a_transaction_go_in_the_next_group(store: CountingStore) -> None:
    """Change sets that arrive while a transaction runs are committed together in the next one."""
    committer = Committer(store)
    store.gate = asyncio.Event()
    first = asyncio.create_task(committer.commit(create("first")))
    await asyncio.wait_for(store.entered.wait(), timeout=5)
    later = [asyncio.create_task(committer.commit(create(f"later-{n}"))) for n in range(50)]
    await asyncio.sleep(0)  # let the later commits queue up behind the running transaction
    store.gate.set()
    await asyncio.gather(first, *later)
    assert store.groups == [1, 50]


async def test_max_group_bounds_a_transaction(store: CountingStore) -> None:
    """No transaction holds more change sets than max_group."""
    committer = Committer(store, max_group=7)
    await asyncio.gather(*(committer.commit(create(f"a-{n}")) for n in range(30)))
    assert max(store.groups) <= 7
    assert sum(store.groups) == 30


async def test_on_commit_sees_every_committed_change_set(store: CountingStore) -> None:
    """on_commit is called after each group with the change sets it committed, and only those."""
    committed: list[ChangeSet] = []
    committer = Committer(store, on_commit=committed.extend)
    await store.commit([create("taken")])
    good = [create(f"a-{n}") for n in range(5)]
    bad = create("taken")
    results = await committer.commit_many([*good, bad])
    assert [r is None for r in results] == [True] * 5 + [False]
    assert [id(c) for c in committed] == [id(c) for c in good]


async def test_conflict_fails_only_its_own_change_set(store: CountingStore) -> None:
    """In a group where one change set conflicts, that one raises ConcurrencyError and all others commit."""
    await store.commit([create("taken")])
    committer = Committer(store)
    ids = [f"a-{n}" for n in range(20)]
    changes = [create(id) for id in ids]
    changes.insert(7, stale_update("taken"))
    results = await asyncio.gather(*(committer.commit(c) for c in changes), return_exceptions=True)
    errors = [(n, type(r)) for n, r in enumerate(results) if r is not None]
    assert errors == [(7, ConcurrencyError)]
    assert await stored_ids(store, ids) == ids
    assert await store.load("Account", "taken") == StoredAggregate("{}", 1)
    assert (await store.outbox_status()).pending == 21


async def test_duplicate_fails_only_its_own_change_set(store: CountingStore) -> None:
    """In a group where one change set marks a message already seen, only it raises DuplicateMessage."""
    await store.commit([mark("m-seen")])
    committer = Committer(store)
    changes = [mark(f"m-{n}", f"a-{n}") for n in range(10)]
    changes.insert(3, mark("m-seen", "dup"))
    results = await asyncio.gather(*(committer.commit(c) for c in changes), return_exceptions=True)
    errors = [(n, type(r)) for n, r in enumerate(results) if r is not None]
    assert errors == [(3, DuplicateMessage)]
    assert await store.seen(SUB, [f"m-{n}" for n in range(10)]) == {f"m-{n}" for n in range(10)}
    assert await store.load("Account", "dup") is None


async def test_same_message_twice_in_one_group(store: CountingStore) -> None:
    """Two change sets of one group marking the same message: the first commits, the second is a duplicate."""
    committer = Committer(store)
    results = await committer.commit_many([mark("m-1", "a-1"), mark("m-1", "a-2"), mark("m-2", "a-3")])
    assert [type(r) for r in results] == [type(None), DuplicateMessage, type(None)]
    assert await stored_ids(store, ["a-1", "a-2", "a-3"]) == ["a-1", "a-3"]


async def test_commit_many_returns_errors_in_order(store: CountingStore) -> None:
    """commit_many gives one result per change set, in order: None when committed, else its error."""
    await store.commit([create("taken"), mark("m-seen")])
    committer = Committer(store)
    results = await committer.commit_many(
        [create("a-1"), stale_update("taken"), create("a-2"), mark("m-seen", "a-3"), create("a-4")]
    )
    assert [type(r) for r in results] == [
        type(None),
        ConcurrencyError,
        type(None),
        DuplicateMessage,
        type(None),
    ]
    assert await stored_ids(store, ["a-1", "a-2", "a-3", "a-4"]) == ["a-1", "a-2", "a-4"]


async def test_dependent_change_sets_commit_in_order(store: CountingStore) -> None:
    """A change set continuing an earlier one's version commits with it, even when another fails the group."""
    committer = Committer(store)
    results = await committer.commit_many(
        [
            create("a-1"),
            stale_update("ghost"),
            ChangeSet(writes=[AggregateWrite("Account", "a-1", 1, 2, '{"n": 2}')]),
        ]
    )
    assert [type(r) for r in results] == [type(None), ConcurrencyError, type(None)]
    assert await store.load("Account", "a-1") == StoredAggregate('{"n": 2}', 2)


async def test_commit_raises_its_own_error(store: CountingStore) -> None:
    """commit() raises the error of its change set."""
    await store.commit([create("taken")])
    with pytest.raises(ConcurrencyError):
        await Committer(store).commit(create("taken"))


async def test_store_failure_fails_the_whole_group(store: CountingStore) -> None:
    """When the store itself fails, every change set of the group gets its error; none is retried alone."""
    committer = Committer(store)
    store.fail_with = StoreUnavailable("the disk is gone")
    results = await committer.commit_many([create("a-1"), create("a-2")])
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.groups == [2]
    store.fail_with = None
    assert await committer.commit_many([create("a-1")]) == [None]


async def test_a_change_that_read_a_failed_change_is_not_committed() -> None:
    """When a batch is replayed one by one, a change set built on a failed one's staged state fails too."""
    from interlink.adapters.stores.memory import MemoryStore
    from interlink.delivery.committer import Committer
    from interlink.exceptions import ConcurrencyError
    from interlink.ports.store import AggregateWrite, ChangeSet

    async with MemoryStore(domain="d") as store:
        await store.commit([ChangeSet(writes=[AggregateWrite("A", "x", 0, 1, "{}")])])
        stale = ChangeSet(writes=[AggregateWrite("A", "x", 0, 1, "{}")])  # conflicts: x exists
        reader = ChangeSet(writes=[AggregateWrite("B", "y", 0, 1, "{}")], depends_on=[stale])
        bystander = ChangeSet(writes=[AggregateWrite("C", "z", 0, 1, "{}")])
        results = await Committer(store).commit_many([stale, reader, bystander])
        assert [type(r).__name__ for r in results] == ["ConcurrencyError", "ConcurrencyError", "NoneType"]
        assert isinstance(results[1], ConcurrencyError)
        assert await store.load("B", "y") is None, "the dependent change set must not commit"
        assert await store.load("C", "z") is not None


@pytest.mark.parametrize("failing", [False, True], ids=["commits", "fails"])
async def test_a_waiter_cancelled_mid_commit_leaves_its_group_whole(store: CountingStore, failing: bool) -> None:
    """A commit whose waiter is cancelled (a request's timeout) still goes with its group; the others are told."""
    committer = Committer(store)
    store.gate = asyncio.Event()
    store.fail_with = StoreUnavailable("down") if failing else None
    errors: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context.get("exception") or Exception(context)))
    try:
        waiters = [asyncio.create_task(committer.commit(create(id))) for id in ("kept", "gone")]
        await store.entered.wait()
        waiters[1].cancel()
        store.gate.set()
        done = await asyncio.gather(*waiters, return_exceptions=True)
        assert store.groups == [2]
        assert isinstance(done[1], asyncio.CancelledError)
        if failing:
            assert isinstance(done[0], StoreUnavailable)
            assert await stored_ids(store, ["kept", "gone"]) == []
        else:
            assert done[0] is None
            assert await stored_ids(store, ["kept", "gone"]) == ["kept", "gone"]
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert errors == []  # no future left with an exception nobody retrieved
