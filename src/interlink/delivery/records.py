"""A kind of framework record: where its records are filed, their model and schema, and who prunes them.

The framework keeps some of its state as records in a store's aggregates table, under kinds of its own
(``~saga``, ``~request``, ``~reply``, ``~pending:<subscription>``, ``~counters:...``). A :class:`RecordKind`
declares one such kind: its model (the codec, the pattern's own class, left unchanged), its schema version
with the upgrades from each older one, the due time the store indexes (if any), and the store retention that
prunes its records (if any). Every read and write of the kind goes through it, so a change of the model is
one declaration: the new schema number and the upgrade from the old one.

How the schema is stored: a record of schema 2 or later starts with ``"~schema": <n>`` among its top-level
keys; a record of schema 1 carries no mark. So the rows written before kinds had a schema read as schema 1,
and a kind at schema 1 decodes a row with one ``in`` test more than ``model_validate_json``. A row of an
older schema is upgraded step by step (``upgrades[n]`` takes the JSON document of schema ``n`` to ``n + 1``)
before it is validated; a row of a newer schema than the kind's (written by a newer release) raises
:class:`~interlink.exceptions.RecordSchemaError` rather than being misread.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.exceptions import ConfigurationError, RecordSchemaError
from interlink.ports.kinds import retention_of
from interlink.ports.store import FieldValue, Retained, Store

__all__ = ["SCHEMA_KEY", "Found", "RecordKind", "RecordSession", "Upgrade"]

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A", bound=Aggregate)

#: The top-level key that holds a record's schema version from schema 2 on.
SCHEMA_KEY = "~schema"
_MARK = f'"{SCHEMA_KEY}"'
#: Takes the JSON document of a record of schema n and returns it as schema n + 1.
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


class RecordSession(Protocol):
    """Where records are read and staged: a unit of work (or a context's session)."""

    async def load_record(self, kind: str, id: str) -> tuple[str, int] | None:
        """The record as (data JSON, version), or None."""
        ...

    def stage_record(self, kind: str, id: str, data: str | None, version: int, *, due_at: float | None = None) -> None:
        """Write (``data`` None: delete) a record read at ``version`` (0: new)."""
        ...


class Found(NamedTuple, Generic[M]):
    """A record as read, with the stored version a write of it must name."""

    record: M
    version: int


@dataclass(frozen=True)
class RecordKind(Generic[M]):
    """Records of ``model`` filed under ``kind``, at schema version ``schema``.

    ``upgrades`` holds one step per older schema (``{1: one_to_two, 2: two_to_three}`` for schema 3);
    ``due`` gives a record's due time (epoch seconds, None: never) for :meth:`Store.due`; ``retention`` is
    the store retention that prunes the kind (None: its records are bounded by what they track, and removed
    by the pattern that writes them), checked against what the stores prune (``ports/kinds.py``). For a
    model that is an :class:`Aggregate`, a decoded record carries the row's id and stored version.
    """

    kind: str
    model: type[M]
    schema: int = 1
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)
    due: Callable[[M], float | None] | None = None
    retention: Retained | None = None
    #: Whether the model is an aggregate (a decoded record then carries the row's id and version).
    _identified: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_identified", issubclass(self.model, Aggregate))
        if not self.kind.startswith("~"):
            raise ConfigurationError(f"record kind {self.kind!r}: a framework record's kind starts with '~'")
        if self.schema < 1 or sorted(self.upgrades) != list(range(1, self.schema)):
            raise ConfigurationError(
                f"record kind {self.kind!r} at schema {self.schema} needs one upgrade from each older schema "
                f"(keys 1..{self.schema - 1}), has {sorted(self.upgrades)}"
            )
        if retention_of(self.kind) is not self.retention:
            raise ConfigurationError(
                f"record kind {self.kind!r} declares retention {self.retention}, but the stores prune it "
                f"as {retention_of(self.kind)}"
            )

    # -- the codec ------------------------------------------------------------------------------------------

    def encode(self, record: M) -> str:
        """``record`` as the JSON a row stores, marked with the schema from schema 2 on."""
        data = record.__pydantic_serializer__.to_json(record).decode()
        if self.schema == 1:
            return data
        if data == "{}":
            return f'{{"{SCHEMA_KEY}":{self.schema}}}'
        return f'{{"{SCHEMA_KEY}":{self.schema},' + data[1:]

    def decode(self, id: str, data: str, version: int) -> M:
        """A stored row of the kind as the model: upgraded from an older schema, refused from a newer one."""
        if _MARK not in data:  # no mark anywhere: a schema 1 row (the mark could also be a nested key or a value)
            record = (
                self.model.model_validate_json(data) if self.schema == 1 else self._upgrade(id, json.loads(data), 1)
            )
        else:
            doc = json.loads(data)
            found = doc.pop(SCHEMA_KEY, 1)
            if not isinstance(found, int) or isinstance(found, bool) or found < 1:
                raise RecordSchemaError(f"{self.kind} record {id!r} names schema {found!r}, which is no schema")
            record = self.model.model_validate(doc) if found == self.schema else self._upgrade(id, doc, found)
        if self._identified:
            # The row's id and version are the truth (a record's JSON may hold a stale version); set without
            # pydantic's assignment check: the framework's record models validate nothing more on these.
            record.__dict__["id"] = id
            record.__dict__["version"] = version
        return record

    def _upgrade(self, id: str, doc: dict[str, Any], schema: int) -> M:
        if schema > self.schema:
            raise RecordSchemaError(
                f"{self.kind} record {id!r} is at schema {schema}, newer than schema {self.schema} this release "
                "reads: it was written by a newer release; run that release (or one that knows the schema)"
            )
        for step in range(schema, self.schema):
            doc = self.upgrades[step](doc)
        return self.model.model_validate(doc)

    # -- through a unit of work ----------------------------------------------------------------------------

    async def read(self, session: RecordSession, id: str) -> Found[M] | None:
        """The record ``id`` and its stored version, as ``session`` sees it (what it staged, else the store's)."""
        found = await session.load_record(self.kind, id)
        return Found(self.decode(id, *found), found[1]) if found is not None else None

    def write(self, session: RecordSession, id: str, record: M, version: int) -> None:
        """Stage ``record`` under ``id``, read at ``version`` (0: new); its due time goes with it."""
        due_at = self.due(record) if self.due is not None else None
        session.stage_record(self.kind, id, self.encode(record), version, due_at=due_at)

    def delete(self, session: RecordSession, id: str, version: int) -> None:
        """Stage the removal of the record ``id`` read at ``version``."""
        session.stage_record(self.kind, id, None, version)

    async def load(self: RecordKind[A], session: RecordSession, id: str) -> A | None:
        """An aggregate record as ``session`` sees it, carrying its stored version."""
        found = await session.load_record(self.kind, id)
        return self.decode(id, *found) if found is not None else None

    def stage(self: RecordKind[A], session: RecordSession, record: A) -> None:
        """Stage an aggregate record read at ``record.version`` (0: new), which goes up by one."""
        read = record.version
        record.__dict__["version"] = read + 1
        self.write(session, record.id, record, read)

    # -- straight from a store (readers outside a unit of work: the CLI, the console, the advice) ------------

    async def get(self, store: Store, id: str) -> M | None:
        """The record ``id`` as stored, or None."""
        stored = await store.load(self.kind, id)
        return self.decode(id, stored.data, stored.version) if stored is not None else None

    async def list(
        self, store: Store, *, where: Mapping[str, FieldValue] | None = None, after: str | None = None, limit: int = 500
    ) -> list[tuple[str, M]]:
        """Up to ``limit`` records by id after ``after``, whose top-level fields equal ``where``."""
        rows = await store.list_aggregates(self.kind, where=where or {}, after=after, limit=limit)
        return [(id, self.decode(id, stored.data, stored.version)) for id, stored in rows]

    async def all(self, store: Store, page: int = 500) -> AsyncIterator[M]:
        """Every record of the kind in ``store``, a page at a time, in id order."""
        after: str | None = None
        while True:
            rows = await self.list(store, after=after, limit=page)
            for _, record in rows:
                yield record
            if len(rows) < page:
                return
            after = rows[-1][0]
