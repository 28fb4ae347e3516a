"""Aggregates, atomicity and queries: what a command's writes must do on every store."""

from __future__ import annotations

import pytest

from interlink.exceptions import ConcurrencyError, StoreError
from interlink.ports.store import (
    ChangeSet,
    InboxMark,
    Store,
    StoredAggregate,
)
from interlink.testing.contracts.store.base import (
    KIND,
    SUB,
    StoreContractBase,
    _create,
    _delete,
    _letter,
    _message,
    _update,
)

__all__ = ["DataContract"]


class DataContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

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

    # -- queries -----------------------------------------------------------------------------------

    async def test_list_filters_on_fields_and_pages_by_id(self, store: Store) -> None:
        """list_aggregates keeps only matching fields (str, int, bool, null), in id order, from a cursor."""
        await self._filters_and_pages(store)

    async def test_query_indexes_keep_list_results(self, store: Store) -> None:
        """With every field indexed (ensure_query_indexes, run twice) the lists find exactly the same."""
        fields = {KIND: ["status", "amount", "vip", "note"], "~replica:x": ["status"]}
        await store.ensure_query_indexes(fields)
        assert await store.ensure_query_indexes(fields) == []  # nothing left to create
        await self._filters_and_pages(store)
        await store.commit([ChangeSet(writes=[_create("c-1", '{"status": "open"}', kind="~replica:x")])])
        found = await store.list_aggregates("~replica:x", where={"status": "open"}, after=None, limit=10)
        assert [i for i, _ in found] == ["c-1"]

    async def _filters_and_pages(self, store: Store) -> None:
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
