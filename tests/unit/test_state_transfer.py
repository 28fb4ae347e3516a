"""Event-Carried State Transfer on the memory store (and a Landscape): replicas by version, tombstones, upcasting,
start-up checks."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink import Context, Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.core import Aggregate, Indexed, PublicEvent, Role, SystemClock
from interlink.delivery.committer import Committer
from interlink.delivery.dispatch import read_event
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import ConfigurationError, InvalidPayload, RuleViolation
from interlink.patterns.state_transfer import ReplicaDispatcher, ReplicaRebuild
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent
from interlink.ports.envelope import Envelope
from interlink.ports.store import ChangeSet, DeadLetter, Store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.testing import Landscape
from tests.support import ecst_app

loans = Domain("loan-request")
credit = Domain("credit")


@loans.aggregate
class LoanRequest(Aggregate):
    amount: Decimal
    status: str
    customer: str = "c-1"


@loans.event
class LoanRequestChanged(StateTransferEvent):
    amount: Decimal
    status: str


class LoanCopy(Replica):
    status: Annotated[str, Indexed()]
    amount: Decimal


credit.replica(LoanRequestChanged, model=LoanCopy)
_ids = itertools.count()


def envelope_of(event: PublicEvent, type_: str | None = None, data: dict[str, Any] | None = None) -> Envelope:
    """The envelope a producer would send for ``event`` (or for raw ``data`` under ``type_``)."""
    return Envelope(
        id=f"m-{next(_ids)}",
        source=event.owner(),
        type=type_ or event.message_type(),
        time=datetime(2024, 5, 1, tzinfo=UTC),
        data=data if data is not None else event.model_dump(mode="json"),
    )


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    """A private in-memory store for the credit domain."""
    async with MemoryStore("memory://", domain="credit") as store:
        yield store


async def deliver(store: Store, dispatcher: ReplicaDispatcher, *events: LoanRequestChanged) -> None:
    """Handle each event in its own unit of work and commit it, as the consumer does."""
    for event in events:
        uow = UnitOfWork(credit, store, SystemClock())
        await dispatcher.dispatch(envelope_of(event), uow)
        await store.commit([uow.changes()])


def query_context(store: Store, domain: Domain = credit) -> Context:
    return Context(domain, UnitOfWork(domain, store, SystemClock()), Role.QUERY, name="q", clock=SystemClock(),
                   correlation_id="c")  # fmt: skip


def changed(id: str, version: int, status: str = "open", amount: str = "100") -> LoanRequestChanged:
    return LoanRequestChanged(id=id, version=version, amount=Decimal(amount), status=status)


def deleted(id: str, version: int) -> LoanRequestChanged:
    return LoanRequestChanged.model_validate({"id": id, "version": version, "deleted": True})


async def test_newer_version_replaces_older_and_duplicates_are_ignored(store: Store) -> None:
    """Version 2 replaces version 1; a second copy of 2 and a late 1 change nothing."""
    dispatcher = ReplicaDispatcher(credit, SystemClock())
    await deliver(store, dispatcher, changed("L1", 1), changed("L1", 2, "approved"), changed("L1", 2, "x"))
    await deliver(store, dispatcher, changed("L1", 1, "late"))
    copy = await query_context(store).replica(LoanCopy, "L1")
    assert copy is not None
    assert (copy.version, copy.status, copy.amount) == (2, "approved", Decimal("100"))


async def test_tombstone_hides_the_copy_and_blocks_late_updates(store: Store) -> None:
    """A delete keeps its version: an older update arriving after it does not resurrect the copy."""
    dispatcher = ReplicaDispatcher(credit, SystemClock())
    await deliver(store, dispatcher, changed("L1", 1), deleted("L1", 3), changed("L1", 2, "late"))
    ctx = query_context(store)
    assert await ctx.replica(LoanCopy, "L1") is None
    stored = await store.load(credit.kind_of(LoanCopy), "L1")
    assert stored is not None
    assert stored.version == 3


async def test_replicas_lists_live_copies_only(store: Store) -> None:
    """ctx.replicas pages through copies, filters on fields, and leaves tombstones out."""
    dispatcher = ReplicaDispatcher(credit, SystemClock())
    await deliver(store, dispatcher, changed("L1", 1), changed("L2", 4, "approved"), deleted("L3", 2))
    ctx = query_context(store)
    assert [c.id for c in (await ctx.replicas(LoanCopy)).items] == ["L1", "L2"]
    assert [c.id for c in (await ctx.replicas(LoanCopy, where={"status": "approved"})).items] == ["L2"]


async def test_commands_cannot_write_a_replica(store: Store) -> None:
    """A replica changes only through the producer's events, never through ctx.save."""
    uow = UnitOfWork(credit, store, SystemClock())
    ctx = Context(credit, uow, Role.COMMAND, name="cmd", clock=SystemClock(), correlation_id="c")
    with pytest.raises(RuleViolation, match=r"LoanCopy, a record the framework keeps .*its producer.s events"):
        await ctx.save(LoanCopy(id="L1", version=1, status="open", amount=Decimal(1)))


async def test_replica_of_an_undeclared_model_is_refused(store: Store) -> None:
    """ctx.replica names the model that backs no replica of the domain."""

    class Stray(Replica):
        status: str

    with pytest.raises(ConfigurationError, match="Stray backs no replica of domain 'credit'"):
        await query_context(store).replica(Stray, "L1")


async def test_handlers_of_the_fed_event_run_after_the_copy_is_updated(store: Store) -> None:
    """A handler of the event a replica follows runs in the same unit of work and reads the new copy."""
    risk = Domain("risk")

    class RiskCopy(Replica):
        status: str

    risk.replica(LoanRequestChanged, model=RiskCopy)
    seen: list[tuple[int, str | None]] = []

    @risk.on(LoanRequestChanged)
    async def on_changed(ctx: Context, event: LoanRequestChanged) -> None:
        copy = await ctx.replica(RiskCopy, event.id)
        seen.append((event.version, copy.status if copy else None))

    dispatcher = ReplicaDispatcher(risk, SystemClock())
    assert set(dispatcher.types()) == {"loan-request.LoanRequestChanged"}
    for event in (changed("L1", 1), changed("L1", 2, "approved"), deleted("L1", 3)):
        uow = UnitOfWork(risk, store, SystemClock())
        await dispatcher.dispatch(envelope_of(event), uow)
        await store.commit([uow.changes()])
    assert seen == [(1, "open"), (2, "approved"), (3, None)]


def test_fat_event_is_built_from_the_aggregate() -> None:
    """of() copies the declared subset of the aggregate's fields with its id and version."""
    loan = LoanRequest(id="L9", version=3, amount=Decimal("5"), status="open", customer="c-9")
    event = LoanRequestChanged.of(loan)
    assert event.model_dump() == {"id": "L9", "version": 3, "deleted": False, "amount": Decimal("5"), "status": "open"}
    assert LoanRequestChanged.tombstone(loan).model_dump() == {"id": "L9", "version": 4, "deleted": True}


def test_missing_field_is_a_startup_error_naming_both_sides() -> None:
    """A replica needing a field the event does not send fails at declaration, naming field, replica and event."""
    consumer = Domain("scoring")

    class NeedsRate(Replica):
        status: str
        rate: Decimal

    with pytest.raises(ConfigurationError) as caught:
        consumer.replica(LoanRequestChanged, model=NeedsRate)
    message = str(caught.value)
    for part in ("['rate']", "'scoring'", "LoanRequestChanged", "'loan-request'", "['amount', 'status']"):
        assert part in message
    with pytest.raises(ConfigurationError, match=r"needs field\(s\) \['customer'\]"):
        consumer.replica(LoanRequestChanged, fields=["status", "customer"])


def test_kind_of_follows_a_replica_declared_after_the_model_was_looked_up() -> None:
    """kind_of keeps its answers, but a model filed under a kind later (a replica) is found under that kind;
    stored_kinds is read-only, so nothing files a model behind kind_of's back."""

    class LateCopy(Replica):
        amount: Decimal

    domain = Domain("late")
    assert domain.kind_of(LateCopy) == "LateCopy"
    domain.replica(LoanRequestChanged, model=LateCopy, name="late-loans")
    assert domain.kind_of(LateCopy) == "~replica:late-loans"
    assert dict(domain.stored_kinds) == {LateCopy: "~replica:late-loans"}
    with pytest.raises(TypeError):
        domain.stored_kinds[LateCopy] = "elsewhere"  # type: ignore[index]


def test_fields_declaration_builds_a_model() -> None:
    """replica(fields=[...]) builds a model with the event's types for those fields only."""
    consumer = Domain("pricing")
    spec = consumer.replica(LoanRequestChanged, fields=["amount"], name="loans")
    assert spec.kind == "~replica:loans"
    assert list(spec.model.model_fields) == ["id", "version", "deleted", "amount"]
    assert spec.model.model_fields["amount"].annotation is Decimal
    assert (spec.fields_read, spec.fields_sent) == (["amount"], ["amount", "status"])


async def test_a_replica_model_is_left_as_written_and_may_back_a_replica_in_each_domain() -> None:
    """Declaring a replica does not change the user's class: the kind its copies are filed under is the
    domain's (``kind_of``), so one model backs a replica in two domains, each under its own kind, and each
    domain reads and writes only its own copies; within one domain a model backs one replica."""

    class SharedCopy(Replica):
        amount: Decimal

    risk, audit = Domain("risk"), Domain("audit")
    risk.replica(LoanRequestChanged, model=SharedCopy, name="risk-loans")
    audit.replica(LoanRequestChanged, model=SharedCopy, name="audit-loans")
    assert "__aggregate_name__" not in SharedCopy.__dict__
    assert SharedCopy.aggregate_name() == "SharedCopy"
    assert (risk.kind_of(SharedCopy), audit.kind_of(SharedCopy)) == ("~replica:risk-loans", "~replica:audit-loans")
    with pytest.raises(ConfigurationError, match="already backs '~replica:risk-loans'"):
        risk.replica(LoanRequestChanged, model=SharedCopy, name="risk-loans-again")

    event = LoanRequestChanged(id="L9", version=2, amount=Decimal(5), status="open")
    async with MemoryStore("memory://", domain="shared") as store:
        for domain in (risk, audit):
            uow = UnitOfWork(domain, store, SystemClock())
            uow.stage_copy(SharedCopy(id="L9", version=2, amount=event.amount), 0)
            change = uow.changes()
            assert [w.kind for w in change.writes] == [domain.kind_of(SharedCopy)]
            await store.commit([change])
        for kind in ("~replica:risk-loans", "~replica:audit-loans"):
            assert await store.load(kind, "L9") is not None
        assert await store.load("SharedCopy", "L9") is None
        found = await query_context(store, risk).replica(SharedCopy, "L9")
        assert found is not None
        assert found.amount == Decimal(5)


class HistoryBroker:
    """A broker that retains its channels: replays the envelopes it was given, oldest first."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.asked: list[tuple[str, list[str] | None]] = []

    async def history(self, channel: str, types: Collection[str] | None = None) -> AsyncGenerator[bytes, None]:
        self.asked.append((channel, sorted(types) if types is not None else None))
        for body in self.bodies:
            yield body


async def test_rebuild_from_history_applies_every_retained_event_by_version(store: Store) -> None:
    """The broker's history, replayed in chunks, leaves the newest state and the tombstones in the replica."""
    events = [changed("L1", 1), changed("L2", 1), changed("L1", 2, "approved"), deleted("L2", 2), changed("L3", 1)]
    broker = HistoryBroker([envelope_of(e).encode() for e in events])
    rebuild = ReplicaRebuild(credit, "loan-request.LoanRequestChanged", store, Committer(store), None, SystemClock(),
                             page_size=2)  # fmt: skip
    report = await rebuild.run_history(broker)
    assert broker.asked == [("loan-request.events", ["loan-request.LoanRequestChanged"])]
    assert (report.pages, report.items, report.applied) == (3, 5, 5)
    page = await query_context(store).replicas(LoanCopy)
    assert [(c.id, c.version, c.status) for c in page.items] == [("L1", 2, "approved"), ("L3", 1, "open")]
    again = await rebuild.run_history(broker)
    assert again.applied == 0


async def test_rebuild_needs_a_source(store: Store) -> None:
    """Without a declared API the API rebuild says what to declare; a broker without history is refused."""
    rebuild = ReplicaRebuild(credit, "loan-request.LoanRequestChanged", store, Committer(store), None, SystemClock())
    with pytest.raises(ConfigurationError, match="has no API to rebuild from"):
        await rebuild.run()
    with pytest.raises(ConfigurationError, match="keeps no history"):
        await rebuild.run_history(MemoryBroker())
    with pytest.raises(ConfigurationError, match="declares no replica 'nope'"):
        ReplicaRebuild(credit, "nope", store, Committer(store), None, SystemClock())


# -- schema evolution -----------------------------------------------------------------------------

producer = Domain("customers")
reader = Domain("onboarding")


@producer.event
class CustomerMoved(PublicEvent):
    __message_version__ = 3
    customer_id: str
    street: str
    city: str
    country: str


@reader.upcaster(CustomerMoved, from_version=1)
def split_address(data: dict[str, Any]) -> dict[str, Any]:
    street, city = data.pop("address").split(", ")
    return {**data, "street": street, "city": city}


@reader.upcaster(CustomerMoved, from_version=2)
def default_country(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "country": "BE"}


def test_version_is_in_the_type_and_version_1_keeps_the_plain_type() -> None:
    """Version 3 is '.v3' in the CloudEvents type; an event without a version keeps its old type."""
    assert CustomerMoved.message_type() == "customers.CustomerMoved.v3"
    assert LoanRequestChanged.message_type() == "loan-request.LoanRequestChanged"
    assert reader.upcasters.types(CustomerMoved) == [
        "customers.CustomerMoved",
        "customers.CustomerMoved.v2",
        "customers.CustomerMoved.v3",
    ]


def test_upcaster_chain_turns_v1_into_v3() -> None:
    """A v1 message runs v1->v2 then v2->v3 before it becomes the typed event; v2 runs only the last step."""
    v1 = envelope_of(CustomerMoved(customer_id="C1", street="s", city="c", country="x"), "customers.CustomerMoved",
                     {"customer_id": "C1", "address": "Rue Haute 1, Brussels"})  # fmt: skip
    assert read_event(reader, v1, CustomerMoved) == CustomerMoved(
        customer_id="C1", street="Rue Haute 1", city="Brussels", country="BE"
    )
    v2 = envelope_of(CustomerMoved(customer_id="C1", street="s", city="c", country="x"), "customers.CustomerMoved.v2",
                     {"customer_id": "C1", "street": "a", "city": "b"})  # fmt: skip
    assert read_event(reader, v2, CustomerMoved).country == "BE"


def test_unknown_optional_fields_are_tolerated() -> None:
    """A producer that added a field its consumers do not know yet does not break them."""
    event = CustomerMoved(customer_id="C1", street="s", city="c", country="NL")
    data = {**event.model_dump(), "floor": 3, "note": "new in the producer"}
    assert read_event(reader, envelope_of(event, data=data), CustomerMoved) == event


def test_upcaster_declarations_are_checked() -> None:
    """An upcaster from the current version (or a second one for a step) is refused at declaration."""
    with pytest.raises(ConfigurationError, match="from_version must be between 1 and 2"):
        reader.upcaster(CustomerMoved, from_version=3)(default_country)
    with pytest.raises(ConfigurationError, match="already upcasts CustomerMoved from version 2"):
        reader.upcaster(CustomerMoved, from_version=2)(default_country)


def test_a_newer_or_unchained_version_is_an_invalid_payload() -> None:
    """A version newer than the class, or one no upcaster covers, parks the message with a clear reason."""
    event = CustomerMoved(customer_id="C1", street="s", city="c", country="NL")
    with pytest.raises(InvalidPayload, match="version 4 is newer than the version 3"):
        read_event(reader, envelope_of(event, "customers.CustomerMoved.v4"), CustomerMoved)
    with pytest.raises(InvalidPayload, match="no upcaster for CustomerMoved from version 1"):
        read_event(Domain("other"), envelope_of(event, "customers.CustomerMoved"), CustomerMoved)


async def test_v1_event_parked_in_dead_letters_is_upcast_on_replay() -> None:
    """A v1 message parked before the consumer learnt to upcast it is handled as v3 when replayed."""
    seen: list[CustomerMoved] = []
    consumer = Domain("kyc")

    @consumer.on(CustomerMoved)
    async def on_moved(ctx: Context, event: CustomerMoved) -> None:
        seen.append(event)

    consumer.upcaster(CustomerMoved, from_version=1)(split_address)
    consumer.upcaster(CustomerMoved, from_version=2)(default_country)
    parked = envelope_of(CustomerMoved(customer_id="C", street="s", city="c", country="x"), "customers.CustomerMoved",
                         {"customer_id": "C7", "address": "Meir 2, Antwerp"})  # fmt: skip
    broker = MemoryBroker()
    await broker.connect()
    runtime = DomainRuntime(consumer, MemoryStore(domain="kyc"), broker)
    await runtime.prepare()
    try:
        letter = DeadLetter("kyc", parked.id, parked.type, parked.encode(), "no handler", 5, datetime.now(UTC))
        await runtime.store.commit([ChangeSet(dead_letters=[letter])])
        [stored] = await runtime.store.dead_letters()
        assert stored.id is not None
        await runtime.replay_dead_letter(stored.id)
        assert seen == [CustomerMoved(customer_id="C7", street="Meir 2", city="Antwerp", country="BE")]
        assert await runtime.store.dead_letters() == []
        assert "customers.CustomerMoved" in runtime.subscription.types
    finally:
        await runtime.stop()
        await broker.close()


# -- convergence ----------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[LoanRequestChanged], dict[str, LoanRequestChanged]]:
    """The fat events a producer emits for a few loans (updates, some ending deleted), and its final state."""
    events: list[LoanRequestChanged] = []
    final: dict[str, LoanRequestChanged] = {}
    for n in range(draw(st.integers(1, 4))):
        id = f"L{n}"
        updates = draw(st.lists(st.sampled_from(["open", "approved", "rejected"]), min_size=1, max_size=5))
        for version, status in enumerate(updates, start=1):
            events.append(changed(id, version, status, str(version * 10)))
        if draw(st.booleans()):
            events.append(deleted(id, len(updates) + 1))
        else:
            final[id] = events[-1]
    return events, final


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), history=histories())
async def test_any_permutation_and_duplication_converges_on_the_producer_state(
    data: st.DataObject, history: tuple[list[LoanRequestChanged], dict[str, LoanRequestChanged]]
) -> None:
    """Delivered in any order, with duplicates and delays, the events leave the replica equal to the source."""
    events, final = history
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)), label="duplicates")
    arrival = data.draw(st.permutations(events + extra), label="arrival order")
    async with MemoryStore(domain="credit") as store:
        await deliver(store, ReplicaDispatcher(credit, SystemClock()), *arrival)
        page = await query_context(store).replicas(LoanCopy, limit=100)
    assert {c.id: (c.version, c.status, c.amount) for c in page.items} == {
        id: (e.version, e.status, e.amount) for id, e in final.items()
    }


@settings(max_examples=40, deadline=None)
@given(data=st.data(), history=histories())
async def test_batches_read_through_the_overlay_converge_too(
    data: st.DataObject, history: tuple[list[LoanRequestChanged], dict[str, LoanRequestChanged]]
) -> None:
    """Handled in consumer-style batches (each message sees the batch's earlier writes), any arrival order of
    the events with duplicates still ends on the producer's final state."""
    events, final = history
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)), label="duplicates")
    arrival = data.draw(st.permutations(events + extra), label="arrival order")
    size = data.draw(st.integers(1, 6), label="batch size")
    async with MemoryStore(domain="credit") as store:
        committer = Committer(store)
        dispatcher = ReplicaDispatcher(credit, SystemClock())
        for start in range(0, len(arrival), size):
            overlay = Overlay()
            changes = []
            for event in arrival[start : start + size]:
                uow = UnitOfWork(credit, store, SystemClock(), overlay=overlay)
                await dispatcher.dispatch(envelope_of(event), uow)
                change = uow.changes()
                overlay.absorb(change)
                changes.append(change)
            assert await committer.commit_many(changes) == [None] * len(changes)
        page = await query_context(store).replicas(LoanCopy, limit=100)
    assert {c.id: (c.version, c.status, c.amount) for c in page.items} == {
        id: (e.version, e.status, e.amount) for id, e in final.items()
    }


async def test_a_replica_follows_its_producer_through_duplicates_and_reordering() -> None:
    """On a Landscape, loan changes arrive newest first and each twice, a deletion among them: the replica
    ends equal to the producer's state, each copy at its newest version."""
    async with Landscape([ecst_app.loans, ecst_app.credit], services={"loan-api": "loan-request"}) as land:
        land.duplicate_next(None)
        land.reorder_next(4)
        for status in ("open", "reviewed", "approved"):
            await land.execute(ecst_app.change_loan, ecst_app.ChangeLoan(id="L1", amount=Decimal(100), status=status))
        await land.execute(ecst_app.change_loan, {"id": "L2", "amount": "50", "status": "open"})
        await land.settle()
        await land.execute(ecst_app.delete_loan, {"id": "L2"})
        await land.settle()
        assert await land.query(ecst_app.copies) == {"L1": (3, "approved", Decimal(100))}
        assert land["credit"].consumers[0].stats.duplicates >= 5
