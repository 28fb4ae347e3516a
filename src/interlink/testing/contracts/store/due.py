"""Due times on every store: framework records found by the time they fall due, in due order, through an index."""

from __future__ import annotations

from interlink.ports.store import AggregateWrite, ChangeSet, DueRecord, Store
from interlink.testing.contracts.store.base import KIND, StoreContractBase

__all__ = ["DueContract"]

REQUEST = "~request"


def _record(id: str, due_at: float | None, kind: str = REQUEST, version: int = 0, data: str = "{}") -> ChangeSet:
    return ChangeSet(writes=[AggregateWrite(kind, id, version, version + 1, data, due_at)])


def _ids(found: list[DueRecord]) -> list[str]:
    return [due.id for due in found]


class DueContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

    async def test_due_returns_passed_records_of_the_kind_in_due_order(self, store: Store) -> None:
        """Records due at or before now come back earliest first, up to the limit; later, undated and other
        kinds' records never."""
        await store.commit([_record("r-late", 300.0, data='{"n": 3}')])
        await store.commit([_record("r-first", 100.0, data='{"n": 1}'), _record("r-second", 200.0)])
        await store.commit([_record("r-never", None), _record("r-future", 10_000.0)])
        await store.commit([_record("other", 50.0, kind=KIND)])

        found = await store.due(REQUEST, 300.0, 10)
        assert _ids(found) == ["r-first", "r-second", "r-late"]
        assert [due.due_at for due in found] == [100.0, 200.0, 300.0]
        assert (found[0].record.data, found[0].record.version) == ('{"n": 1}', 1)
        assert _ids(await store.due(REQUEST, 300.0, 2)) == ["r-first", "r-second"]
        assert _ids(await store.due(REQUEST, 99.0, 10)) == []
        assert _ids(await store.due(KIND, 300.0, 10)) == ["other"]

    async def test_due_time_follows_the_record_and_goes_with_its_delete(self, store: Store) -> None:
        """An update moves or clears the due time and a deleted record is due no more, in the same commit."""
        await store.commit([_record("r-1", 100.0), _record("r-2", 100.0), _record("r-3", 100.0)])
        await store.commit([_record("r-1", 500.0, version=1), _record("r-2", None, version=1)])
        await store.commit([ChangeSet(writes=[AggregateWrite(REQUEST, "r-3", 1, 2, None)])])

        assert _ids(await store.due(REQUEST, 400.0, 10)) == []
        found = await store.due(REQUEST, 500.0, 10)
        assert _ids(found) == ["r-1"]
        assert found[0].record.version == 2

    async def test_due_time_survives_a_create_and_update_folded_into_one_commit(self, store: Store) -> None:
        """Two change sets of one batch that create and then re-date a record commit the later due time."""
        await store.commit([_record("r-1", 100.0), _record("r-1", 200.0, version=1)])

        assert _ids(await store.due(REQUEST, 150.0, 10)) == []
        assert _ids(await store.due(REQUEST, 200.0, 10)) == ["r-1"]
