"""Property: any permutation, duplication and delay of a sequence of notifications, each handled by
fetching the source's state at that moment, leaves the consumer's copy equal to the source's final state.

The source is a plain dictionary behind the ExternalServices protocol: ``id -> (name, version)``, a
missing id answering 404. A scenario is a list of changes and deletions; the notifications of the first
``cut`` of them are delivered (shuffled, some twice, in batches) while the source is at that point, the
rest (and repeats of early ones) once it reached its final state. Both consumers are checked: ``loans``
(eager) through its copies, ``pricing`` (deferred) through ``ctx.fresh``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.core.external import ExternalService
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import ExternalServiceError, NotFoundError
from interlink.ports.broker import OutgoingMessage
from interlink.runtime import DomainRuntime, Settings
from tests.support.notifications import Consumer, loans, notification, payload, pricing

IDS = ["a", "b"]
Op = tuple[str, str]  # ("change" | "delete", id)


@dataclass
class Harness:
    """One consumer runtime with no background tasks: the test delivers in batches of the size it draws
    (a Landscape's consumers fetch what is there, so the batches would not be the scenario's)."""

    consumer: Consumer
    runtime: DomainRuntime
    broker: MemoryBroker

    async def publish(self, *messages: OutgoingMessage) -> None:
        await self.broker.publish(list(messages))

    async def pump(self, *, rounds: int, batch: int) -> None:
        """Fetch and process batches until a fetch comes back empty (retries with no delay come back)."""
        for _ in range(rounds):
            deliveries = await self.broker.fetch(self.runtime.subscription.name, batch, 0.01)
            if not deliveries:
                return
            await self.runtime.consumers[0].process(deliveries)
        raise AssertionError(f"still delivering after {rounds} rounds")

    async def copy(self, id: str) -> tuple[str, int] | None:
        """(name, source version) of the consumer's copy, or None."""
        stored = await self.runtime.store.load(self.consumer.copy.aggregate_name(), id)
        if stored is None:
            return None
        doc = json.loads(stored.data)
        return doc["name"], doc["source_version"]


class Source:
    """The producer's API over its current state."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[str, int]] = {}
        self.versions: dict[str, int] = {}

    def apply(self, op: Op) -> tuple[str, int] | None:
        """Apply a change or deletion; the notification it emits (id, version), or None if nothing changed."""
        kind, id = op
        if kind == "delete" and id not in self.state:
            return None
        version = self.versions[id] = self.versions.get(id, 0) + 1
        if kind == "delete":
            del self.state[id]
        else:
            self.state[id] = (f"{id}-{version}", version)
        return id, version

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        id = path.rsplit("/", 1)[-1]
        if id not in self.state:
            raise ExternalServiceError(service.name, path, "not found", status=404)
        name, version = self.state[id]
        return payload(id, name, version)


ops = st.lists(
    st.tuples(st.sampled_from(["change", "change", "delete"]), st.sampled_from(IDS)), min_size=1, max_size=12
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Op], int, list[int], list[int], list[int]]:
    """Operations, the cut, and for each phase the delivery order (indices, some repeated) and batch size."""
    changes = draw(ops)
    cut = draw(st.integers(0, len(changes)))
    early = draw(st.permutations(list(range(cut)) + draw(st.lists(st.integers(0, max(cut - 1, 0)), max_size=4))))
    late_base = list(range(cut, len(changes))) + draw(st.lists(st.integers(0, len(changes) - 1), max_size=4))
    late = draw(st.permutations(late_base))
    batches = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    return changes, cut, [i for i in early if i < cut], late, batches


async def run(consumer: Consumer, scenario: tuple[list[Op], int, list[int], list[int], list[int]]) -> Source:
    changes, cut, early, late, batches = scenario
    source = Source()
    policy = RetryPolicy(max_attempts=20, base_delay=0, max_delay=0)
    async with MemoryStore("memory://", domain=consumer.domain.name) as store, MemoryBroker() as broker:
        runtime = DomainRuntime(consumer.domain, store, broker, Settings(retry=policy), external=source)
        await runtime.prepare()
        harness = Harness(consumer, runtime, broker)
        notes: list[OutgoingMessage | None] = []
        for i, op in enumerate(changes):
            if i == cut:
                await deliver(harness, notes, early, batches[0])
            emitted = source.apply(op)
            notes.append(notification(*emitted) if emitted else None)
        if cut == len(changes):
            await deliver(harness, notes, early, batches[0])
        await deliver(harness, notes, late, batches[1])
        assert await runtime.store.dead_letters() == []
        await check(harness, source)
    return source


async def deliver(h: Harness, notes: list[OutgoingMessage | None], order: list[int], batch: int) -> None:
    """Publish the notifications in ``order``, each also as a fresh message (a duplicate notification); an
    index repeated in ``order`` publishes the same message again (a redelivery, deduplicated)."""
    for i in order:
        note = notes[i]
        if note is not None:
            await h.publish(note)
            await h.publish(notification(*_id_version(note)))
    await h.pump(batch=batch, rounds=500)


def _id_version(note: OutgoingMessage) -> tuple[str, int]:
    data = json.loads(note.body)["data"]
    return data["id"], data["version"]


async def check(h: Harness, source: Source) -> None:
    """The consumer's view of every id equals the source's final state."""
    for id in IDS:
        expected = source.state.get(id)
        if h.consumer.domain.notifications["customer.CustomerChanged"].deferred:
            try:
                name = await h.runtime.query(h.consumer.customer_name, id=id)
            except NotFoundError:
                name = None
            assert name == (expected[0] if expected else None), (id, source.state)
        else:
            assert await h.copy(id) == expected, (id, source.state)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_eager_copy_ends_equal_to_the_source(scenario: tuple[list[Op], int, list[int], list[int], list[int]]) -> None:
    """Eager notifications in any order, repeated and delayed: the copies equal the source's final state."""
    asyncio.run(run(loans, scenario))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_deferred_reads_end_equal_to_the_source(
    scenario: tuple[list[Op], int, list[int], list[int], list[int]],
) -> None:
    """Deferred notifications in any order, repeated and delayed: fresh reads equal the source's final state."""
    asyncio.run(run(pricing, scenario))
