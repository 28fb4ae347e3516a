"""A seventh pattern joins the framework through its own package and one line of the registration list.

The made-up "Audit Feed" (tests/support/feed_pattern) has a verb, a dispatcher, a background part and a
spec collector. Appended to :data:`interlink.patterns.registry.PATTERNS`, it runs in the consumer loop with
the inbox's guarantees, starts and stops with its domain, ticks under the test kit's ``settle()``, and shows
in the documents and the landscape, though no module of ``interlink`` names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from interlink import Context, Domain, PublicEvent
from interlink.patterns import registry
from interlink.specs import asyncapi_document, collect
from interlink.specs.landscape import build_landscape
from interlink.testing import Landscape
from tests.support import feed_pattern
from tests.support.feed_pattern import Feed, FeedEntry, feed

shop = Domain("shop")
audit = Domain("audit")


@shop.event
class OrderPlaced(PublicEvent):
    """An order was placed."""

    order_id: str


class PlaceOrder(BaseModel):
    order_id: str


@shop.command
async def place(ctx: Context, data: PlaceOrder) -> None:
    """Place an order."""
    ctx.emit(OrderPlaced(order_id=data.order_id))


feed(audit, OrderPlaced)


@pytest.fixture
def registered() -> Iterator[None]:
    """The feed pattern in the registration list for the test, and out of it afterwards."""
    registry.PATTERNS.append(feed_pattern.PATTERN)
    yield
    registry.PATTERNS.remove(feed_pattern.PATTERN)


async def _entries(land: Landscape) -> list[FeedEntry]:
    rows = await land.store("audit").list_aggregates("FeedEntry", where={}, after=None, limit=100)
    return [FeedEntry.model_validate_json(row.data) for _, row in rows]


@pytest.mark.usefixtures("registered")
async def test_a_registered_pattern_runs_in_its_domain_with_the_inbox_guarantees() -> None:
    """Each event is kept once, duplicates included; the part is readied, started, ticked, stopped, flushed."""
    async with Landscape([shop, audit]) as land:
        part = land["audit"].part(Feed)
        assert part is not None
        assert land["shop"].part(Feed) is None  # only a domain that declares a feed gets the part
        assert (part.readied, part.started) == (1, 1)
        land.duplicate_next(2)
        for n in range(5):
            await land.execute(place, PlaceOrder(order_id=f"o{n}"))
        await land.settle()
        entries = await _entries(land)
        assert len(entries) == 5
        assert {e.type for e in entries} == {OrderPlaced.message_type()}
        assert [e.deliveries for e in entries] == [1] * 5
        assert part.ticks >= 1
    assert (part.stopped, part.flushed) == (1, 1)


@pytest.mark.usefixtures("registered")
def test_a_registered_pattern_shows_in_the_documents_and_the_landscape() -> None:
    """Its collector adds the subscription; the AsyncAPI document and the landscape arrow follow."""
    spec = collect(audit)
    assert [(op.id, op.pattern, op.peer) for op in spec.operations] == [
        ("audit_feed_order_placed", "audit-feed", "shop")
    ]
    document = asyncapi_document(spec)
    assert document["operations"]["audit_feed_order_placed"]["x-interlink-pattern"] == "audit-feed"
    edges = build_landscape([collect(shop), spec]).edges
    assert [(e.source, e.target) for e in edges if e.pattern == "audit-feed"] == [("shop", "audit")]


async def test_unregistered_the_pattern_is_not_there() -> None:
    """Out of the list, the declarations are inert: no part, no subscription, no operation."""
    assert collect(audit).operations == []
    async with Landscape([shop, audit]) as land:
        assert land["audit"].part(Feed) is None
        assert land["audit"].subscription.types == frozenset()


def test_no_module_of_interlink_names_the_seventh_pattern() -> None:
    """The framework's sources never mention it: the package and the registration list are all it took."""
    import interlink

    sources = Path(interlink.__file__).parent.rglob("*.py")
    assert not [p for p in sources if "audit-feed" in p.read_text() or "feed_pattern" in p.read_text()]
