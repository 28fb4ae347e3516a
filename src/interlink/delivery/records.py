"""A kind of framework record: where its records are filed, and the model that reads and writes them.

The framework keeps some of its state as records in a store's aggregates table, under kinds of its own
(``~pending:<subscription>``, ``~counters:...``). A :class:`RecordKind` names one such kind and its model (the
codec), and reads and stages its records through a unit of work with optimistic concurrency, without a class
made per kind: the model stays the pattern's own, unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from interlink.core.aggregate import Aggregate
from interlink.ports.store import Store

if TYPE_CHECKING:
    from interlink.delivery.unit_of_work import UnitOfWork

__all__ = ["RecordKind"]

R = TypeVar("R", bound=Aggregate)


@dataclass(frozen=True)
class RecordKind(Generic[R]):
    """Records of ``model`` filed under ``kind``; a record's ``version`` is the stored one."""

    kind: str
    model: type[R]

    async def load(self, uow: UnitOfWork, id: str) -> R | None:
        """The record ``id`` as this unit of work sees it (what it or its batch staged, else the store's)."""
        found = await uow.load_record(self.kind, id)
        return self.decode(id, *found) if found is not None else None

    def stage(self, uow: UnitOfWork, record: R) -> None:
        """Stage ``record`` for the commit: it was read at ``record.version`` (0: new), which goes up by one."""
        read = record.version
        record.version = read + 1
        uow.stage_record(self.kind, record.id, record.model_dump_json(), read)

    def decode(self, id: str, data: str, version: int) -> R:
        """A stored record's data and version as the model."""
        return self.model.model_validate_json(data).model_copy(update={"version": version, "id": id})

    async def all(self, store: Store, page: int = 500) -> AsyncIterator[R]:
        """Every record of the kind in ``store``, a page at a time, in id order."""
        after: str | None = None
        while True:
            rows = await store.list_aggregates(self.kind, where={}, after=after, limit=page)
            for id, stored in rows:
                yield self.decode(id, stored.data, stored.version)
            if len(rows) < page:
                return
            after = rows[-1][0]
