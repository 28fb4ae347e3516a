"""A framework record kind: its codec, its schema version with upgrades, its due time and its retention."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from interlink import Domain
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.records import SCHEMA_KEY, RecordKind
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, RecordSchemaError
from interlink.patterns.command_events.declarations import Outcome, OutstandingRequest
from interlink.patterns.command_events.records import REPLIES, REQUESTS, SAGAS
from interlink.patterns.command_events.sagas import SagaStatus
from interlink.ports.store import AggregateWrite, ChangeSet, Retained, Store

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
keeper = Domain("keeper")


class FixedClock:
    """A clock that always tells the same time."""

    def now(self) -> datetime:
        return NOW


class Note(BaseModel):
    """Schema 3 of a toy record: ``text`` (schema 1 called it ``body``) and ``tags`` (added by schema 3)."""

    text: str
    tags: list[str]


def body_to_text(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: ``body`` is renamed ``text`` (the step leaves a trail the next one turns into tags)."""
    doc["text"] = doc.pop("body")
    doc["trail"] = ["1->2"]
    return doc


def add_tags(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 -> 3: ``tags`` appears; it needs the ``text`` of schema 2, so it must run after 1 -> 2."""
    assert "text" in doc, "the upgrade to schema 3 ran before the one to schema 2"
    doc["tags"] = [*doc.pop("trail", []), "2->3"]
    return doc


NOTES_V3 = RecordKind("~notes", Note, schema=3, upgrades={1: body_to_text, 2: add_tags})


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    """A private in-memory store."""
    async with MemoryStore("memory://", domain="keeper") as store:
        yield store


async def put(store: Store, kind: str, id: str, data: str, version: int = 1) -> None:
    """A row as some release wrote it, straight into the store."""
    await store.commit([ChangeSet(writes=[AggregateWrite(kind, id, 0, version, data)])])


def test_a_schema_1_record_is_stored_as_its_model_json_and_reads_back() -> None:
    """At schema 1 the stored JSON is the model's JSON, without a schema mark, and decodes to an equal record."""
    kind = RecordKind("~toys", Note)
    note = Note(text="hello", tags=["a"])
    data = kind.encode(note)
    assert data == note.model_dump_json()
    assert SCHEMA_KEY not in data
    assert kind.decode("n1", data, 4) == note


def test_a_record_of_the_current_schema_carries_its_mark_and_reads_back() -> None:
    """From schema 2 on, the stored JSON names the schema at its top level; decoding takes it off again."""
    note = Note(text="hello", tags=["a"])
    data = NOTES_V3.encode(note)
    assert json.loads(data) == {SCHEMA_KEY: 3, "text": "hello", "tags": ["a"]}
    assert NOTES_V3.decode("n1", data, 1) == note


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ('{"body": "old"}', Note(text="old", tags=["1->2", "2->3"])),
        (f'{{"{SCHEMA_KEY}": 2, "text": "mid"}}', Note(text="mid", tags=["2->3"])),
        (f'{{"text": "new", "tags": ["x"], "{SCHEMA_KEY}": 3}}', Note(text="new", tags=["x"])),
    ],
    ids=["schema-1-no-mark", "schema-2", "schema-3-mark-last"],
)
def test_older_rows_run_the_upgrades_in_order(row: str, expected: Note) -> None:
    """A schema 1 row (no mark) runs 1->2 then 2->3; a schema 2 row only 2->3; a current row none."""
    assert NOTES_V3.decode("n1", row, 1) == expected


def test_a_row_of_a_newer_schema_is_refused_naming_kind_id_and_both_versions() -> None:
    """A row written at schema 4 is an error for a kind at schema 3 (never misread), and one at schema 2 for
    a kind at schema 1."""
    with pytest.raises(RecordSchemaError, match=r"~notes record 'n9' is at schema 4, newer than schema 3"):
        NOTES_V3.decode("n9", f'{{"{SCHEMA_KEY}": 4, "text": "x", "tags": []}}', 1)
    with pytest.raises(RecordSchemaError, match=r"~saga record 's1' is at schema 2, newer than schema 1"):
        SAGAS.decode("s1", f'{{"{SCHEMA_KEY}": 2, "id": "s1"}}', 1)
    with pytest.raises(RecordSchemaError, match=r"names schema 'two'"):
        NOTES_V3.decode("n9", f'{{"{SCHEMA_KEY}": "two"}}', 1)


def test_the_mark_nested_in_a_record_or_as_a_value_is_not_its_schema() -> None:
    """Only the top-level key names the schema: a saga whose data holds the key or the word stays schema 1."""
    row = json.dumps(
        {
            "id": "s1", "version": 0, "name": "x", "status": "running", "step": 0,
            "data": {SCHEMA_KEY: 7, "note": SCHEMA_KEY}, "correlation_id": "c",
            "started_at": NOW.isoformat(), "deadline": NOW.isoformat(),
        }
    )  # fmt: skip
    state = SAGAS.decode("s1", row, 3)
    assert state.data == {SCHEMA_KEY: 7, "note": SCHEMA_KEY}
    assert state.version == 3


def test_a_declaration_needs_every_upgrade_and_the_retention_the_stores_apply() -> None:
    """A missing upgrade step, a retention the stores do not apply, or a kind without ``~`` is refused."""
    with pytest.raises(ConfigurationError, match=r"one upgrade from each older schema \(keys 1..2\), has \[1\]"):
        RecordKind("~notes", Note, schema=3, upgrades={1: body_to_text})
    with pytest.raises(ConfigurationError, match=r"declares retention None, but the stores prune it as reply"):
        RecordKind("~reply", Note)
    with pytest.raises(ConfigurationError, match=r"declares retention counters, but the stores prune it as None"):
        RecordKind("~pending:x", Note, retention=Retained.COUNTERS)
    with pytest.raises(ConfigurationError, match="starts with '~'"):
        RecordKind("Notes", Note)


async def test_rows_written_before_kinds_had_a_schema_still_load(store: Store) -> None:
    """``~saga``, ``~request`` and ``~reply`` rows exactly as the earlier releases stored them (the model's
    JSON, a saga's stale version inside) read as schema 1, with the row's version."""
    saga_row = (
        '{"id":"s1","version":0,"name":"loan-origination","status":"running","step":1,"data":{"ref":"R-1"},'
        '"correlation_id":"c-1","started_at":"2026-05-01T12:00:00Z","deadline":"2026-05-01T12:05:00Z",'
        '"awaiting":"s1-1-do","reason":null,"history":[{"at":"2026-05-01T12:00:00Z","step":0,"what":"started",'
        '"detail":null}]}'
    )
    request_row = (
        '{"command_type":"accounts.OpenAccount","command":{"customer":"C-1"},"to":"accounts","correlation_id":"c-1",'
        '"sent_at":"2026-05-01T12:00:00Z","deadline":"2026-05-01T12:05:00Z","saga":"s1"}'
    )
    reply_row = '{"outcome":"confirmed","command_type":"accounts.OpenAccount","confirmation":{"n":1},"reason":null}'
    await put(store, "~saga", "s1", saga_row, version=3)
    await put(store, "~request", "s1-1-do", request_row)
    await put(store, "~reply", "s1-0-do", reply_row)
    uow = UnitOfWork(keeper, store, FixedClock())

    state = await SAGAS.load(uow, "s1")
    request = await REQUESTS.read(uow, "s1-1-do")
    reply = await REPLIES.read(uow, "s1-0-do")

    assert state is not None
    assert (state.status, state.step, state.version, state.history[0].what) == (SagaStatus.RUNNING, 1, 3, "started")
    assert request is not None
    assert (request.record.saga, request.record.command, request.version) == ("s1", {"customer": "C-1"}, 1)
    assert reply is not None
    assert (reply.record.outcome, reply.record.confirmation) == (Outcome.CONFIRMED, {"n": 1})


async def test_a_write_goes_through_the_unit_of_work_with_its_due_time(store: Store) -> None:
    """A request written through its kind commits at version 1 with its deadline as due time, reads back
    from the store, and a second write names the version it read."""
    deadline = datetime(2026, 5, 1, 12, 5, tzinfo=UTC)
    request = OutstandingRequest(
        command_type="accounts.OpenAccount", command={"customer": "C-1"}, to="accounts", correlation_id="c-1",
        sent_at=NOW, deadline=deadline,
    )  # fmt: skip
    uow = UnitOfWork(keeper, store, FixedClock())
    REQUESTS.write(uow, "r1", request, 0)
    await store.commit([uow.changes()])

    [due] = await store.due(REQUESTS.kind, deadline.timestamp(), 10)
    assert (due.id, due.due_at, due.record.version) == ("r1", deadline.timestamp(), 1)
    assert await REQUESTS.get(store, "r1") == request
    again = UnitOfWork(keeper, store, FixedClock())
    found = await REQUESTS.read(again, "r1")
    assert found is not None
    REQUESTS.delete(again, "r1", found.version)
    await store.commit([again.changes()])
    assert await REQUESTS.get(store, "r1") is None
    assert await store.due(REQUESTS.kind, deadline.timestamp(), 10) == []
