"""interlink advise for replicas: copies, tombstones, changes seen and how much of the payload is read."""

from __future__ import annotations

import json
from decimal import Decimal

from pydantic import BaseModel

from interlink import Aggregate, Domain, Replica, StateTransferEvent
from interlink.adapters.stores.memory import MemoryStore
from interlink.patterns.state_transfer import advise_replica, replica_figures
from interlink.ports.store import AggregateWrite, ChangeSet

producer = Domain("advise-producer")
consumer = Domain("advise-consumer")


@producer.aggregate
class Account(Aggregate):
    """A producer's aggregate with five state fields."""

    holder: str
    balance: Decimal
    currency: str
    branch: str
    segment: str


@producer.event
class AccountChanged(StateTransferEvent):
    """Every field of the account."""

    holder: str
    balance: Decimal
    currency: str
    branch: str
    segment: str


class BalanceCopy(Replica):
    """The consumer reads the balance only."""

    balance: Decimal


class FullCopy(Replica):
    """The consumer reads four of the five fields."""

    holder: str
    balance: Decimal
    currency: str
    branch: str


thin = consumer.replica(AccountChanged, model=BalanceCopy, name="balances")
full = consumer.replica(AccountChanged, model=FullCopy, name="accounts")


def _write(kind: str, id: str, version: int, data: BaseModel | dict[str, object]) -> AggregateWrite:
    body = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data)
    return AggregateWrite(kind, id, 0, version, body)


async def test_a_replica_reading_a_small_share_of_the_payload_is_told_to_carry_less() -> None:
    """One field of five read: 'carry less', naming the fields that travel for nothing; counts from the store."""
    async with MemoryStore(domain="advise-consumer") as store:
        await store.commit(
            [
                ChangeSet(
                    writes=[
                        _write(thin.kind, "A1", 3, BalanceCopy(id="A1", balance=Decimal(5))),
                        _write(thin.kind, "A2", 2, BalanceCopy(id="A2", balance=Decimal(7))),
                        _write(thin.kind, "A3", 4, {"id": "A3", "deleted": True}),
                    ]
                )
            ]
        )
        figures = await replica_figures(store, thin)
    assert (figures.copies, figures.tombstones, figures.changes) == (2, 1, 9)
    assert figures.share_read == 1 / 5
    advice = advise_replica(figures)
    assert advice.recommendation == "carry less"
    assert "['branch', 'currency', 'holder', 'segment'] travel for nothing" in advice.reason


async def test_a_replica_reading_most_of_the_payload_keeps_state_transfer() -> None:
    """Four fields of five read: keep state transfer; an empty replica has nothing to judge by yet."""
    async with MemoryStore(domain="advise-consumer") as store:
        assert advise_replica(await replica_figures(store, full)).reason.startswith("no event applied yet")
        copy = FullCopy(id="A1", holder="o", balance=Decimal(1), currency="EUR", branch="b")
        await store.commit([ChangeSet(writes=[_write(full.kind, "A1", 6, copy)])])
        advice = advise_replica(await replica_figures(store, full))
    assert advice.recommendation == "keep state transfer"
    assert "6 changes applied locally" in advice.reason
    assert "reads 4 of the 5 state fields (80%)" in advice.reason
