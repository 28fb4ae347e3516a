"""The behaviour every store adapter must have, written once and subclassed per backend.

A store adapter (yours included) proves it keeps Interlink's delivery guarantees by passing this suite::

    from interlink.testing.contracts.store import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            async with MyStore("my://...", domain="test-domain") as store:
                yield store

The ``store`` fixture must give a connected store on fresh, empty storage for domain ``"test-domain"``.
The class name does not start with ``Test``, so pytest collects only the subclasses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from interlink.exceptions import ConcurrencyError, DuplicateMessage, StoreError
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import (
    AggregateWrite,
    ChangeSet,
    DeadLetter,
    InboxMark,
    OutboxStatus,
    Store,
    StoredAggregate,
)

__all__ = ["StoreContract"]

KIND = "Account"
SUB = "test-domain.handlers"


def _create(id: str, data: str = '{"n": 1}', kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, 0, 1, data)


def _update(id: str, expected: int, data: str, kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, expected, expected + 1, data)


def _delete(id: str, expected: int, kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, expected, expected + 1, None)


def _message(n: int, *, ordering_key: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        f"msg-{n}", "test-domain.events", "test-domain.AccountOpened", f'{{"n": {n}}}'.encode(), ordering_key
    )


def _letter(n: int, subscription: str = SUB) -> DeadLetter:
    return DeadLetter(
        subscription=subscription,
        message_id=f"dead-{n}",
        message_type="other-domain.Thing",
        body=b'{"not": "processable"}\x00\xff',
        error=f"InvalidPayload: attempt {n} went wrong",
        attempts=n,
        failed_at=datetime(2024, 5, 1, 12, 30, n, tzinfo=UTC),
    )


class StoreContract:
    """Abstract tests of the :class:`~interlink.ports.store.Store` port.

    Subclasses define the ``store`` fixture (see the module docstring); it is not declared here so that a
    subclass's fixture may ask for any other fixture it needs (``tmp_path``, a database URL, ...).
    """

    async def _assert_empty(self, store: Store, *ids: str) -> None:
        for id in ids:
            assert await store.load(KIND, id) is None
        assert await store.outbox_batch(100) == []
        assert await store.outbox_status() == OutboxStatus(0, None)
        assert await store.dead_letters() == []

    # -- aggregates --------------------------------------------------------------------------------

    async def test_create_then_load(self, store: Store) -> None:
        """A created aggregate loads back with its data and version 1; an unknown id loads as None."""
        await store.commit([ChangeSet(writes=[_create("a-1", '{"owner": "ann"}')])])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"owner": "ann"}', 1)
        assert await store.load(KIND, "a-2") is None

    async def test_kinds_are_separate(self, store: Store) -> None:
        """The same id under two aggregate kinds names two different aggregates."""
        await store.commit([ChangeSet(writes=[_create("x", '{"k": 1}'), _create("x", '{"k": 2}', "Loan")])])
        assert await store.load(KIND, "x") == StoredAggregate('{"k": 1}', 1)
        assert await store.load("Loan", "x") == StoredAggregate('{"k": 2}', 1)

    async def test_update_at_current_version(self, store: Store) -> None:
        """An update expecting the stored version replaces the data and raises the version."""
        await store.commit([ChangeSet(writes=[_create("a-1")])])
        await store.commit([ChangeSet(writes=[_update("a-1", 1, '{"n": 2}')])])
        await store.commit([ChangeSet(writes=[_update("a-1", 2, '{"n": 3}')])])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"n": 3}', 3)

    async def test_update_at_stale_version_raises(self, store: Store) -> None:
        """An update expecting an older version raises ConcurrencyError and leaves the aggregate as it was."""
        await store.commit([ChangeSet(writes=[_create("a-1")])])
        await store.commit([ChangeSet(writes=[_update("a-1", 1, '{"n": 2}')])])
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_update("a-1", 1, '{"n": "stale"}')])])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"n": 2}', 2)

    async def test_update_of_missing_aggregate_raises(self, store: Store) -> None:
        """An update of an aggregate that does not exist raises ConcurrencyError and creates nothing."""
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_update("ghost", 1, '{"n": 2}')])])
        assert await store.load(KIND, "ghost") is None

    async def test_create_of_existing_raises(self, store: Store) -> None:
        """Creating an aggregate that exists already raises ConcurrencyError and keeps the stored one."""
        await store.commit([ChangeSet(writes=[_create("a-1", '{"first": true}')])])
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_create("a-1", '{"second": true}')])])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"first": true}', 1)

    async def test_delete_at_current_version(self, store: Store) -> None:
        """A delete expecting the stored version removes the aggregate."""
        await store.commit([ChangeSet(writes=[_create("a-1"), _create("a-2")])])
        await store.commit([ChangeSet(writes=[_delete("a-1", 1)])])
        assert await store.load(KIND, "a-1") is None
        assert await store.load(KIND, "a-2") == StoredAggregate('{"n": 1}', 1)

    async def test_delete_at_stale_version_raises(self, store: Store) -> None:
        """A delete expecting an older version raises ConcurrencyError and keeps the aggregate."""
        await store.commit([ChangeSet(writes=[_create("a-1")])])
        await store.commit([ChangeSet(writes=[_update("a-1", 1, '{"n": 2}')])])
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_delete("a-1", 1)])])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"n": 2}', 2)

    async def test_delete_of_missing_aggregate_raises(self, store: Store) -> None:
        """Deleting an aggregate that does not exist raises ConcurrencyError."""
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_delete("ghost", 1)])])

    async def test_empty_commit_changes_nothing(self, store: Store) -> None:
        """Committing no change set, or only empty ones, succeeds and writes nothing."""
        await store.commit([])
        await store.commit([ChangeSet(), ChangeSet()])
        await self._assert_empty(store)

    # -- atomicity ---------------------------------------------------------------------------------

    async def test_conflict_leaves_nothing_written(self, store: Store) -> None:
        """A change set with a good and a conflicting write writes nothing: no aggregate, outbox or inbox."""
        await store.commit([ChangeSet(writes=[_create("taken")])])
        change = ChangeSet(
            writes=[_create("fresh"), _create("taken", '{"n": "again"}')],
            outbox=[_message(1), _message(2)],
            inbox=[InboxMark(SUB, "in-1")],
            dead_letters=[_letter(1)],
        )
        with pytest.raises(ConcurrencyError):
            await store.commit([change])
        await self._assert_empty(store, "fresh")
        assert await store.load(KIND, "taken") == StoredAggregate('{"n": 1}', 1)
        assert await store.seen(SUB, ["in-1"]) == set()

    async def test_conflict_in_one_change_set_rolls_back_the_others(self, store: Store) -> None:
        """When one change set of a commit conflicts, the other change sets of that commit are not written."""
        await store.commit([ChangeSet(writes=[_create("taken")])])
        good = ChangeSet(writes=[_create("fresh")], outbox=[_message(1)], inbox=[InboxMark(SUB, "in-1")])
        bad = ChangeSet(writes=[_update("taken", 7, "{}")], outbox=[_message(2)])
        with pytest.raises(ConcurrencyError):
            await store.commit([good, bad])
        await self._assert_empty(store, "fresh")
        assert await store.seen(SUB, ["in-1"]) == set()

    async def test_one_stale_write_among_many_refuses_them_all(self, store: Store) -> None:
        """Of many updates and deletes in one commit, one stale write makes the commit apply none of them."""
        await store.commit([ChangeSet(writes=[_create(f"a-{n}") for n in range(6)])])
        good = [_update("a-0", 1, '{"n": 2}'), _update("a-1", 1, '{"n": 2}'), _delete("a-2", 1)]
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[*good, _update("a-3", 4, "{}")])])
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[*good, _delete("a-3", 4)])])
        for n in range(6):
            assert await store.load(KIND, f"a-{n}") == StoredAggregate('{"n": 1}', 1)
        await store.commit([ChangeSet(writes=[*good, _update("a-3", 1, '{"n": 2}'), _delete("a-4", 1)])])
        assert [await store.load(KIND, f"a-{n}") for n in range(6)] == [
            StoredAggregate('{"n": 2}', 2),
            StoredAggregate('{"n": 2}', 2),
            None,
            StoredAggregate('{"n": 2}', 2),
            None,
            StoredAggregate('{"n": 1}', 1),
        ]

    async def test_second_change_set_continues_the_first(self, store: Store) -> None:
        """Change sets of one commit may chain writes to one aggregate: the last data and version win."""
        first = ChangeSet(writes=[_create("a-1", '{"n": 1}')], outbox=[_message(1)])
        second = ChangeSet(writes=[_update("a-1", 1, '{"n": 2}')], outbox=[_message(2)])
        third = ChangeSet(writes=[_update("a-1", 2, '{"n": 3}')])
        await store.commit([first, second, third])
        assert await store.load(KIND, "a-1") == StoredAggregate('{"n": 3}', 3)
        assert [row.message for row in await store.outbox_batch(10)] == [_message(1), _message(2)]

    async def test_change_sets_that_do_not_chain_are_refused(self, store: Store) -> None:
        """A change set whose write does not continue the previous one's version fails the whole commit."""
        first = ChangeSet(writes=[_create("a-1")], outbox=[_message(1)])
        second = ChangeSet(writes=[_update("a-1", 5, '{"n": 6}')])
        with pytest.raises(ConcurrencyError):
            await store.commit([first, second])
        await self._assert_empty(store, "a-1")

    async def test_create_then_delete_across_change_sets_leaves_nothing(self, store: Store) -> None:
        """An aggregate created by one change set and deleted by the next in one commit is simply absent."""
        created = ChangeSet(writes=[_create("short-lived")], outbox=[_message(1)])
        deleted = ChangeSet(writes=[_delete("short-lived", 1)], outbox=[_message(2)])
        await store.commit([created, deleted])
        assert await store.load(KIND, "short-lived") is None
        assert [row.message for row in await store.outbox_batch(10)] == [_message(1), _message(2)]

    # -- outbox ------------------------------------------------------------------------------------

    async def test_outbox_rows_come_back_in_commit_order(self, store: Store) -> None:
        """outbox_batch returns unsent messages unchanged, oldest first, by increasing seq, up to limit."""
        await store.commit([ChangeSet(outbox=[_message(1), _message(2, ordering_key="k:a-1")])])
        await store.commit([ChangeSet(outbox=[_message(3)]), ChangeSet(outbox=[_message(4), _message(5)])])
        rows = await store.outbox_batch(10)
        assert [row.message for row in rows] == [
            _message(1),
            _message(2, ordering_key="k:a-1"),
            _message(3),
            _message(4),
            _message(5),
        ]
        seqs = [row.seq for row in rows]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert [row.message for row in await store.outbox_batch(2)] == [
            _message(1),
            _message(2, ordering_key="k:a-1"),
        ]

    async def test_mark_sent_removes_rows(self, store: Store) -> None:
        """Rows marked sent leave the outbox; the others stay, still in order."""
        await store.commit([ChangeSet(outbox=[_message(n) for n in range(1, 6)])])
        rows = await store.outbox_batch(10)
        await store.mark_sent([rows[0].seq, rows[2].seq])
        assert [row.message for row in await store.outbox_batch(10)] == [
            _message(2),
            _message(4),
            _message(5),
        ]
        await store.mark_sent([row.seq for row in rows])
        assert await store.outbox_batch(10) == []

    async def test_seq_keeps_growing_after_rows_are_sent(self, store: Store) -> None:
        """A row committed after others were sent gets a larger seq, so commit order stays total."""
        await store.commit([ChangeSet(outbox=[_message(1), _message(2)])])
        sent = await store.outbox_batch(10)
        await store.mark_sent([row.seq for row in sent])
        await store.commit([ChangeSet(outbox=[_message(3)])])
        (row,) = await store.outbox_batch(10)
        assert row.message == _message(3)
        assert row.seq > max(r.seq for r in sent)

    async def test_outbox_status_counts_pending_and_oldest(self, store: Store) -> None:
        """outbox_status counts unsent rows and gives the (timezone-aware) time of the oldest one."""
        assert await store.outbox_status() == OutboxStatus(0, None)
        before = datetime.now(UTC) - timedelta(seconds=1)
        await store.commit([ChangeSet(outbox=[_message(1), _message(2)])])
        await store.commit([ChangeSet(outbox=[_message(3)])])
        after = datetime.now(UTC) + timedelta(seconds=1)
        status = await store.outbox_status()
        assert status.pending == 3
        assert status.oldest_pending is not None
        assert status.oldest_pending.tzinfo is not None
        assert before <= status.oldest_pending <= after
        rows = await store.outbox_batch(10)
        await store.mark_sent([rows[0].seq])
        assert (await store.outbox_status()).pending == 2
        await store.mark_sent([row.seq for row in rows])
        assert await store.outbox_status() == OutboxStatus(0, None)

    # -- inbox -------------------------------------------------------------------------------------

    async def test_seen_reports_marked_ids(self, store: Store) -> None:
        """seen() returns exactly the asked ids that the subscription's inbox holds."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1"), InboxMark(SUB, "m-2")])])
        assert await store.seen(SUB, ["m-1", "m-2", "m-3"]) == {"m-1", "m-2"}
        assert await store.seen(SUB, ["m-3"]) == set()
        assert await store.seen(SUB, []) == set()
        assert await store.seen("other-subscription", ["m-1", "m-2"]) == set()

    async def test_same_message_id_in_two_subscriptions(self, store: Store) -> None:
        """Two subscriptions each record the same message id without clashing."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1")])])
        await store.commit([ChangeSet(inbox=[InboxMark("other-subscription", "m-1")])])
        assert await store.seen("other-subscription", ["m-1"]) == {"m-1"}

    async def test_duplicate_mark_raises_and_rolls_back(self, store: Store) -> None:
        """Marking an id the inbox holds raises DuplicateMessage and writes nothing else of the commit."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1")])])
        change = ChangeSet(
            writes=[_create("a-1")],
            outbox=[_message(1)],
            inbox=[InboxMark(SUB, "m-2"), InboxMark(SUB, "m-1")],
            dead_letters=[_letter(1)],
        )
        with pytest.raises(DuplicateMessage):
            await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-3")]), change])
        await self._assert_empty(store, "a-1")
        assert await store.seen(SUB, ["m-1", "m-2", "m-3"]) == {"m-1"}

    async def test_duplicate_mark_within_one_commit_raises(self, store: Store) -> None:
        """Two change sets of one commit marking the same message raise DuplicateMessage and write nothing."""
        first = ChangeSet(writes=[_create("a-1")], inbox=[InboxMark(SUB, "m-1")])
        second = ChangeSet(writes=[_create("a-2")], inbox=[InboxMark(SUB, "m-1")])
        with pytest.raises(DuplicateMessage):
            await store.commit([first, second])
        await self._assert_empty(store, "a-1", "a-2")
        assert await store.seen(SUB, ["m-1"]) == set()

    # -- dead letters ------------------------------------------------------------------------------

    async def test_dead_letters_are_listed_oldest_first(self, store: Store) -> None:
        """Parked messages come back whole, with distinct ids, oldest first, filtered by subscription."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2, "other-subscription")])])
        await store.commit([ChangeSet(dead_letters=[_letter(3)])])
        everything = await store.dead_letters()
        ids = [d.id for d in everything]
        assert None not in ids
        assert len(set(ids)) == 3
        assert [replace(d, id=None) for d in everything] == [
            _letter(1),
            _letter(2, "other-subscription"),
            _letter(3),
        ]
        assert [d.message_id for d in await store.dead_letters(SUB)] == ["dead-1", "dead-3"]
        assert [d.message_id for d in await store.dead_letters("other-subscription")] == ["dead-2"]
        assert await store.dead_letters("nobody") == []
        assert [d.message_id for d in await store.dead_letters(limit=2)] == ["dead-1", "dead-2"]

    async def test_dead_letter_by_id(self, store: Store) -> None:
        """dead_letter(id) returns that parked message, and None for an unknown id."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2)])])
        first, second = await store.dead_letters()
        assert first.id is not None
        assert second.id is not None
        assert await store.dead_letter(second.id) == second
        assert await store.dead_letter(first.id) == first
        assert await store.dead_letter(max(first.id, second.id) + 1000) is None

    async def test_resolving_removes_a_dead_letter(self, store: Store) -> None:
        """A resolved dead letter is gone from the list and by id; the others remain."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2)])])
        first, second = await store.dead_letters()
        assert first.id is not None
        await store.commit([ChangeSet(resolved_dead_letters=[first.id])])
        assert await store.dead_letters() == [second]
        assert await store.dead_letter(first.id) is None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def test_ping(self, store: Store) -> None:
        """ping() succeeds on a connected store."""
        await store.ping()
        assert store.domain == "test-domain"

    async def test_use_before_connect_raises(self, store: Store) -> None:
        """Every operation of a store that was never connected raises StoreError."""
        fresh = type(store)(store.url, domain=store.domain)
        with pytest.raises(StoreError):
            await fresh.ping()
        with pytest.raises(StoreError):
            await fresh.load(KIND, "a-1")
        with pytest.raises(StoreError):
            await fresh.seen(SUB, ["m-1"])
        with pytest.raises(StoreError):
            await fresh.commit([ChangeSet(writes=[_create("a-1")])])
        with pytest.raises(StoreError):
            await fresh.outbox_batch(10)
        with pytest.raises(StoreError):
            await fresh.outbox_status()
        with pytest.raises(StoreError):
            await fresh.dead_letters()
        with pytest.raises(StoreError):
            await fresh.dead_letter(1)
        with pytest.raises(StoreError):
            await fresh.mark_sent([1])

    async def test_use_after_close_raises(self, store: Store) -> None:
        """A closed store refuses work with StoreError, and closing twice is harmless."""
        await store.close()
        await store.close()
        with pytest.raises(StoreError):
            await store.load(KIND, "a-1")
        with pytest.raises(StoreError):
            await store.commit([ChangeSet(outbox=[_message(1)])])

    # -- queries -----------------------------------------------------------------------------------

    async def test_list_filters_on_fields_and_pages_by_id(self, store: Store) -> None:
        """list_aggregates keeps only matching fields (str, int, bool, null), in id order, from a cursor."""
        docs = [
            ("a-1", '{"id": "a-1", "status": "open", "amount": 5, "vip": true, "note": null}'),
            ("a-2", '{"id": "a-2", "status": "closed", "amount": 5, "vip": false, "note": "x"}'),
            ("a-3", '{"id": "a-3", "status": "open", "amount": 7, "vip": false, "note": null}'),
            ("a-4", '{"id": "a-4", "status": "open", "amount": 5, "vip": true, "note": "y"}'),
        ]
        await store.commit([ChangeSet(writes=[_create(i, d) for i, d in docs])])
        await store.commit([ChangeSet(writes=[_create("b-1", '{"status": "open"}', kind="Other")])])

        async def ids(**where: str | int | bool | None) -> list[str]:
            return [i for i, _ in await store.list_aggregates(KIND, where=where, after=None, limit=100)]

        assert await ids() == ["a-1", "a-2", "a-3", "a-4"]
        assert await ids(status="open") == ["a-1", "a-3", "a-4"]
        assert await ids(status="open", amount=5) == ["a-1", "a-4"]
        assert await ids(vip=True) == ["a-1", "a-4"]
        assert await ids(vip=False, note=None) == ["a-3"]
        first = await store.list_aggregates(KIND, where={"status": "open"}, after=None, limit=2)
        assert [i for i, _ in first] == ["a-1", "a-3"]
        rest = await store.list_aggregates(KIND, where={"status": "open"}, after="a-3", limit=2)
        assert [(i, s.version) for i, s in rest] == [("a-4", 1)]

    async def test_list_refuses_a_field_name_that_is_not_one(self, store: Store) -> None:
        """A filter name that could smuggle a JSON path or SQL in is refused with StoreError."""
        with pytest.raises(StoreError):
            await store.list_aggregates(KIND, where={"a') or 1=1 --": "x"}, after=None, limit=10)

    # -- idempotency -------------------------------------------------------------------------------

    async def test_idempotency_claim_then_done_then_replay(self, store: Store) -> None:
        """A key is claimed once; the response commits with the effects; later claims see it."""
        from interlink.ports.store import IdempotencyRecord

        assert await store.claim_idempotency("k-1", "fp", lease=60) is None
        held = await store.claim_idempotency("k-1", "fp", lease=60)
        assert held is not None
        assert held.state == "pending"
        done = IdempotencyRecord("k-1", "fp", "done", held.created_at, 201, '{"ok": true}')
        await store.commit([ChangeSet(writes=[_create("a-1")], idempotency=done)])
        again = await store.claim_idempotency("k-1", "other", lease=60)
        assert again is not None
        assert (again.state, again.status, again.response, again.fingerprint) == ("done", 201, '{"ok": true}', "fp")

    async def test_idempotency_release_and_expired_lease(self, store: Store) -> None:
        """A released claim can be claimed again; so can a pending one older than its lease (a crash)."""
        assert await store.claim_idempotency("k-2", "fp", lease=60) is None
        await store.release_idempotency("k-2")
        assert await store.claim_idempotency("k-2", "fp", lease=60) is None
        assert await store.claim_idempotency("k-2", "fp", lease=0) is None, "a lease of 0 has expired"

    # -- inbound files -----------------------------------------------------------------------------

    async def test_file_claim_is_exclusive_and_dedupes_content(self, store: Store) -> None:
        """A file is claimed once; its owner renews it; another owner, or the same content, gets the holder."""
        from interlink.ports.store import InboundFile

        mine = InboundFile("f1", "customers", "a.csv", "sha-1", 10, "worker-a")
        claimed = await store.claim_file(mine, lease=60)
        assert (claimed.file_id, claimed.owner, claimed.state) == ("f1", "worker-a", "processing")
        assert claimed.checkpoint == 0
        assert claimed.lease_until > claimed.claimed_at > 0
        other = await store.claim_file(InboundFile("f1", "customers", "a.csv", "sha-1", 10, "worker-b"), lease=60)
        assert other.owner == "worker-a", "a live claim is not taken over"
        copy = await store.claim_file(InboundFile("f2", "customers", "b.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (copy.file_id, copy.owner) == ("f1", "worker-a"), "the same content under another name is held"
        elsewhere = await store.claim_file(InboundFile("f3", "accounts", "b.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (elsewhere.file_id, elsewhere.owner) == ("f3", "worker-b"), "another source is another claim"
        forced = await store.claim_file(InboundFile("f4", "customers", "c.csv", "sha-1", 10, "worker-b", True), 60)
        assert (forced.file_id, forced.forced) == ("f4", True), "a forced claim repeats content"
        assert await store.inbound_file("f1") == claimed
        assert await store.inbound_file("nope") is None

    async def test_file_claim_is_taken_over_after_its_lease_or_from_a_dead_owner(self, store: Store) -> None:
        """An expired lease, or an owner named as dead, lets another worker take the claim with its checkpoint."""
        from interlink.ports.store import FileProgress, InboundFile

        await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-a"), lease=0)
        progress = FileProgress("f1", "worker-a", 0, 7, 6, 1, 120, lease_until=0)
        await store.commit([ChangeSet(file_progress=progress)])
        taken = await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (taken.owner, taken.checkpoint, taken.accepted, taken.rejected, taken.rejects_bytes) == (
            "worker-b", 7, 6, 1, 120,
        )  # fmt: skip
        held = await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-c"), lease=60)
        assert held.owner == "worker-b"
        replaced = await store.claim_file(
            InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-c"), lease=60, replace_owner="worker-b"
        )
        assert replaced.owner == "worker-c"

    async def test_file_progress_commits_with_effects_and_is_fenced(self, store: Store) -> None:
        """Progress must continue from the stored checkpoint under its owner, or nothing of its commit lands."""
        from interlink.ports.store import FileProgress, InboundFile

        await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-a"), lease=60)
        step = FileProgress("f1", "worker-a", 0, 2, 2, 0, 0, lease_until=0)
        await store.commit([ChangeSet(writes=[_create("a-1"), _create("a-2")], file_progress=step)])
        stale = FileProgress("f1", "worker-a", 0, 4, 4, 0, 0, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_create("a-3")], file_progress=stale)])
        stranger = FileProgress("f1", "worker-b", 2, 4, 4, 0, 0, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_create("a-4")], file_progress=stranger)])
        assert await store.load(KIND, "a-3") is None
        assert await store.load(KIND, "a-4") is None
        chained = [
            ChangeSet(file_progress=FileProgress("f1", "worker-a", 2, 3, 3, 0, 0, lease_until=0)),
            ChangeSet(file_progress=FileProgress("f1", "worker-a", 3, 5, 4, 1, 80, lease_until=0)),
        ]
        await store.commit(chained)
        done = FileProgress("f1", "worker-a", 5, 5, 4, 1, 80, 0, "archived", '{"outcome": "archived"}')
        await store.commit([ChangeSet(outbox=[_message(1)], file_progress=done)])
        final = await store.inbound_file("f1")
        assert final is not None
        assert (final.state, final.checkpoint, final.accepted, final.rejected, final.rejects_bytes) == (
            "archived", 5, 4, 1, 80,
        )  # fmt: skip
        assert final.report == '{"outcome": "archived"}'
        late = FileProgress("f1", "worker-a", 5, 6, 5, 1, 80, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(file_progress=late)])
        after = await store.claim_file(InboundFile("f9", "s", "again.csv", "sha-1", 10, "worker-z"), lease=60)
        assert (after.file_id, after.state) == ("f1", "archived"), "finished content stays claimed"
