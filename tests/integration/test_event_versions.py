"""Event schema evolution on every store x broker pair: a legacy producer still sends v1 of an event the
consumer knows as v3; the consumer upcasts it live, and a v1 message parked in dead letters (its upcaster
failed) is upcast when it is replayed after the fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from interlink import Context, Domain, PublicEvent
from interlink.ports.store import DeadLetter
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

# The same producing domain at two releases: the legacy one still sends version 1.
legacy = Domain("customers")
current = Domain("customers")
onboarding = Domain("onboarding")


@legacy.event
class LegacyCustomerMoved(PublicEvent):
    """Version 1, as the legacy producer still sends it."""

    __message_name__ = "CustomerMoved"
    customer_id: str
    address: str


@current.event
class CustomerMoved(PublicEvent):
    """Version 3: the address split in two, then a country."""

    __message_version__ = 3
    customer_id: str
    street: str
    city: str
    country: str


class MoveInput(BaseModel):
    """Input of the legacy producer's command (never emitted)."""

    customer_id: str
    address: str


@legacy.command
async def move(ctx: Context, data: MoveInput) -> None:
    """Emit the legacy v1 event."""
    ctx.emit(LegacyCustomerMoved(customer_id=data.customer_id, address=data.address))


broken = {"on": False}
seen: list[CustomerMoved] = []


@onboarding.upcaster(CustomerMoved, from_version=1)
def split_address(data: dict[str, Any]) -> dict[str, Any]:
    if broken["on"]:
        raise ValueError("address format not understood")
    street, city = data.pop("address").split(", ")
    return {**data, "street": street, "city": city}


@onboarding.upcaster(CustomerMoved, from_version=2)
def default_country(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "country": "BE"}


@onboarding.on(CustomerMoved)
async def on_moved(ctx: Context, event: CustomerMoved) -> None:
    """Record what the handler saw."""
    seen.append(event)


async def test_v1_is_upcast_live_and_when_replayed_from_dead_letters(backends: Backends) -> None:
    """A live v1 event reaches the handler as v3; one parked by a failing upcaster is upcast on replay."""
    seen.clear()
    settings = Settings(store_url=backends.store, broker_url=backends.broker, relay_poll_interval=0.05, fetch_wait=0.05)
    async with Runtime([legacy, onboarding], settings) as rt:
        await rt["customers"].execute(move, {"customer_id": "C1", "address": "Rue Haute 1, Brussels"})
        await wait_until(lambda: len(seen) == 1, timeout=30, what="the live v1 event handled")
        assert seen == [CustomerMoved(customer_id="C1", street="Rue Haute 1", city="Brussels", country="BE")]

        broken["on"] = True
        try:
            await rt["customers"].execute(move, {"customer_id": "C2", "address": "Meir 2, Antwerp"})
            store = rt["onboarding"].store

            async def parked() -> list[DeadLetter]:
                return await store.dead_letters()

            letters: list[DeadLetter] = await wait_until(parked, timeout=30, what="the v1 event parked")
        finally:
            broken["on"] = False
        assert letters[0].message_type == "customers.CustomerMoved"
        assert "upcasting CustomerMoved from version 1 failed" in letters[0].error
        assert letters[0].id is not None
        await rt["onboarding"].replay_dead_letter(letters[0].id)
        assert seen[1:] == [CustomerMoved(customer_id="C2", street="Meir 2", city="Antwerp", country="BE")]
        assert await store.dead_letters() == []
