"""Declared query fields: ``Indexed()`` marks what an aggregate is listed by; a list by anything else is refused
before it reaches the store, and the runtime asks the store for the declared indexes at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field

from interlink import Aggregate, Context, Domain, Indexed, Replica, StateTransferEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.adapters.stores.sql_queries import query_index_name
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.core import Role, SystemClock
from interlink.core.indexed import declared_indexes, indexed_fields
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError
from interlink.ports.store import ChangeSet, Store
from interlink.runtime.domain_runtime import DomainRuntime

loans = Domain("loan-request")


@loans.aggregate
class LoanRequest(Aggregate):
    customer_id: Annotated[str, Indexed()]
    status: Annotated[str, Indexed()] = "submitted"
    purpose: str = "car"


@loans.event
class LoanRequestChanged(StateTransferEvent):
    customer_id: str
    status: str


class LoanCopy(Replica):
    customer_id: Annotated[str, Indexed()]
    status: str


loans.replica(LoanRequestChanged, model=LoanCopy, name="own-loans")


class Unregistered(Aggregate):
    customer_id: Annotated[str, Indexed()]


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A connected memory store holding three loan requests."""
    async with MemoryStore("memory://", domain=loans.name) as store:
        uow = UnitOfWork(loans, store, SystemClock())
        for n, customer in enumerate(["c-1", "c-2", "c-1"]):
            uow.stage_save(LoanRequest(id=f"L{n}", customer_id=customer))
        await store.commit([uow.changes()])
        yield store


def _query(store: Store) -> Context:
    uow = UnitOfWork(loans, store, SystemClock())
    return Context(loans, uow, Role.QUERY, name="q", clock=SystemClock(), correlation_id="c")


async def test_a_list_by_declared_fields_pages_in_id_order(store: MemoryStore) -> None:
    """ctx.list by Indexed() fields filters and pages by id (None values are no filter)."""
    ctx = _query(store)
    first = await ctx.list(LoanRequest, where={"customer_id": "c-1", "status": None}, limit=1)
    assert [r.id for r in first.items] == ["L0"]
    rest = await ctx.list(LoanRequest, where={"customer_id": "c-1"}, cursor=first.next_cursor)
    assert [r.id for r in rest.items] == ["L2"]
    assert rest.next_cursor is None


async def test_a_list_by_an_undeclared_field_is_refused_at_the_first_call() -> None:
    """A list by a field not declared Indexed() raises ConfigurationError naming the aggregate, the field and the
    fix, before any store is read (this store was never connected)."""
    ctx = _query(MemoryStore("memory://", domain=loans.name))
    with pytest.raises(ConfigurationError) as caught:
        await ctx.list(LoanRequest, where={"customer_id": "c-1", "purpose": "car"})
    message = str(caught.value)
    for named in ("LoanRequest", "purpose", "declared: customer_id, status"):
        assert named in message
    assert "purpose: Annotated[<type>, Indexed()]" in message


async def test_a_list_of_an_aggregate_the_domain_does_not_declare_is_refused() -> None:
    """An aggregate the domain does not declare gets no index: a list of it by a field is refused, naming the fix."""
    ctx = _query(MemoryStore("memory://", domain=loans.name))
    with pytest.raises(ConfigurationError, match=r"@loan_request\.aggregate"):
        await ctx.list(Unregistered, where={"customer_id": "c-1"})


async def test_a_list_without_filters_needs_no_declaration() -> None:
    """Paging through every aggregate of a kind is served by the primary key: no declaration needed."""
    async with MemoryStore("memory://", domain=loans.name) as store:
        assert (await _query(store).list(Unregistered)).items == []


async def test_replicas_are_listed_by_their_declared_fields(store: MemoryStore) -> None:
    """ctx.replicas accepts a replica model's Indexed() fields (the tombstone filter is the framework's) and
    refuses the others."""
    ctx = _query(store)
    assert (await ctx.replicas(LoanCopy, where={"customer_id": "c-1"})).items == []
    with pytest.raises(ConfigurationError, match="status"):
        await ctx.replicas(LoanCopy, where={"status": "approved"})


def test_the_domain_declares_its_indexes_by_kind() -> None:
    """declared_indexes lists each aggregate's and replica model's Indexed() fields under the kind it is stored as."""
    assert declared_indexes(loans) == {
        "LoanRequest": ("customer_id", "status"),
        "~replica:own-loans": ("customer_id",),
    }
    assert LoanCopy.aggregate_name() == "LoanCopy"  # the user's class is left as written
    assert indexed_fields(LoanRequest) == ("customer_id", "status")


def test_a_field_that_cannot_be_indexed_is_refused_at_declaration() -> None:
    """Indexed() on a field stored under another name (an alias) is refused when the aggregate is declared."""
    domain = Domain("d")

    class Aliased(Aggregate):
        customer: Annotated[str, Indexed(), Field(alias="customerId")]

    with pytest.raises(ConfigurationError, match=r"Aliased\.customer .*cannot be indexed"):
        domain.aggregate(Aliased)


def test_a_field_of_no_single_value_is_refused_at_declaration() -> None:
    """Indexed() on a nested model or a list (also optional) is refused when the aggregate is declared."""
    domain = Domain("d")

    class Tagged(Aggregate):
        tags: Annotated[list[str] | None, Indexed()] = None

    with pytest.raises(ConfigurationError, match=r"Tagged\.tags .*only a field of one value"):
        domain.aggregate(Tagged)


class RecordingStore(MemoryStore):
    """A memory store that records what ensure_query_indexes was asked for."""

    asked: list[Mapping[str, Sequence[str]]]

    async def _ensure_query_indexes(self, fields: Mapping[str, Sequence[str]]) -> list[str]:
        self.asked = [*getattr(self, "asked", []), dict(fields)]
        return []


async def test_the_runtime_asks_for_the_declared_indexes_when_it_starts() -> None:
    """DomainRuntime.prepare hands the domain's declared query fields to the store once it is connected."""
    store = RecordingStore("memory://", domain=loans.name)
    async with MemoryBroker("memory://") as broker:
        await DomainRuntime(loans, store, broker).prepare()
        try:
            assert store.asked == [declared_indexes(loans)]
        finally:
            await store.close()


async def test_the_sqlite_store_creates_each_declared_index_once(tmp_path: Path) -> None:
    """On SQLite the declared indexes are created at the first start and found by name at the next."""
    url = f"sqlite:///{tmp_path}/loans.db"
    async with SqliteStore(url, domain=loans.name) as store:
        created = await store.ensure_query_indexes(declared_indexes(loans))
        assert len(created) == 3
        await store.commit([ChangeSet()])
        names = {r[0] for r in await store._fetch("SELECT name FROM sqlite_master WHERE type = 'index'", ())}
        assert query_index_name("LoanRequest", "customer_id") in names
    async with SqliteStore(url, domain=loans.name) as store:
        assert await store.ensure_query_indexes(declared_indexes(loans)) == []
