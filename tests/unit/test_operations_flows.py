"""The landscape's figures per arrow: the flow meter's sliding window, the flow counts kept in the store, and
the arrows' sums by message type."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.committer import Committer
from interlink.delivery.flow_tally import FLOW_KIND, FlowTally, recent_flows
from interlink.operations import FlowMeter, arrow_figures
from interlink.operations.flows import replica_lag, traffic_of
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import AggregateWrite, ChangeSet, DeadLetter, OutboxRow, Retained
from interlink.specs.landscape import Edge, Landscape, Node
from interlink.testing.clock import ManualClock
from interlink.testing.waiting import wait_until
from tests.support.services import fresh_name

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _sent(*types: str) -> ChangeSet:
    return ChangeSet(outbox=[OutgoingMessage(new_message_id(), "c", t, b"{}") for t in types])


def _row(seq: int, type_: str, age: float) -> OutboxRow:
    envelope = Envelope(id=new_message_id(), source="loans", type=type_, time=NOW - timedelta(seconds=age), data={})
    return OutboxRow(seq, OutgoingMessage.of(envelope))


def test_the_meter_counts_committed_outbox_messages_by_type_within_its_window() -> None:
    """Counts by type add up within the window and fall out of it; an unobserved domain is unknown, not zero."""
    clock = [1000.0]
    meter = FlowMeter(window=60, now=lambda: clock[0])
    listen = meter.listener("loans")
    assert meter.recent("loans") == {}
    listen([_sent("loans.Granted", "loans.Granted"), _sent("loans.Refused")])
    clock[0] += 30
    listen([_sent("loans.Granted"), ChangeSet()])
    assert meter.recent("loans") == {"loans.Granted": 3, "loans.Refused": 1}
    clock[0] += 45
    assert meter.recent("loans") == {"loans.Granted": 1}
    assert meter.recent("cards") is None


def test_an_arrow_sums_the_types_it_carries_from_both_of_its_ends() -> None:
    """Rate and outbox from the producer, dead letters from the consumer (and refused ones from the producer),
    lag from the consumer; an arrow whose producer is not read has no rate; an API call has no figures."""
    landscape = Landscape(
        [Node("loans", "loans", "domain"), Node("cards", "cards", "domain"), Node("bank", "bank", "system")],
        [
            Edge("loans", "cards", "event", ["Granted"]),
            Edge("bank", "cards", "event", ["Posted"]),
            Edge("cards", "loans", "api-exposure", ["GET /cards"]),
        ],
    )
    rows = [_row(1, "loans.Granted.v2", 8), _row(2, "loans.Granted", 3), _row(3, "loans.Other", 1)]
    refused = DeadLetter("outbox:loans", "m", "loans.Granted", b"", "refused", 1, NOW)
    parked = [DeadLetter("cards", f"m{i}", t, b"", "E: x", 1, NOW) for i, t in enumerate(["bank.Posted"] * 2)]
    traffic = {
        "loans": traffic_of("loans", rows, [refused], None, {"loans.Granted": 6, "loans.Other": 9}, 60, NOW),
        "cards": traffic_of("cards", [], parked, 4, None, 60, NOW),
    }
    granted, posted, call = arrow_figures(landscape, traffic, 60)
    assert (granted.id, granted.sent, granted.rate) == ("loans>cards:event", 6, 0.1)
    assert (granted.outbox_pending, granted.outbox_oldest_age) == (2, 8.0)
    assert (granted.consumer_lag, granted.dead_letters) == (4, 1)
    assert (posted.sent, posted.rate, posted.outbox_pending, posted.consumer_lag, posted.dead_letters) == (
        None, None, None, 4, 2,
    )  # fmt: skip
    assert (call.sent, call.outbox_pending, call.consumer_lag, call.dead_letters) == (None, None, None, None)


def test_a_replica_lags_by_its_feeds_messages_in_the_producers_outbox_and_the_consumers_backlog() -> None:
    """Every version of the feed's type waiting at the producer counts; without the producer, only the backlog."""
    rows = [_row(1, "loans.Granted.v2", 8), _row(2, "loans.Granted", 3), _row(3, "loans.Other", 1)]
    traffic = {"loans": traffic_of("loans", rows, [], None, None, 60, NOW)}
    cards = traffic_of("cards", [], [], 5, None, 60, NOW)
    lag = replica_lag("granted", "loans.Granted", cards, traffic)
    assert (lag.outbox_pending, lag.outbox_oldest_age, lag.consumer_lag) == (2, 8.0, 5)
    alone = replica_lag("granted", "loans.Granted", cards, {})
    assert (alone.outbox_pending, alone.outbox_oldest_age, alone.consumer_lag) == (None, None, 5)


# -- flow counts kept in the store (interlink.delivery.flow_tally) ------------------------------------


async def _store(name: str) -> MemoryStore:
    store = MemoryStore(f"memory://{name}", domain="loans")
    await store.connect()
    return store


async def test_flow_counts_are_written_per_minute_and_summed_over_processes() -> None:
    """Nothing is written before a flush; two processes' records (one per token and minute) are summed over
    the last full minute and the current one; an older minute falls out, and a never-counted store is unknown."""
    store = await _store(fresh_name("flows"))
    clock = ManualClock(datetime(2026, 12, 7, 10, 0, 30, tzinfo=UTC))
    one, two = (FlowTally(store, Committer(store), clock) for _ in range(2))
    assert await recent_flows(store, clock.now()) is None
    one.committed([_sent("loans.Granted", "loans.Granted"), _sent("loans.Refused")])
    two.committed([_sent("loans.Granted")])
    assert await recent_flows(store, clock.now()) is None  # counted in memory only
    await one.flush()
    await two.flush()
    found = await recent_flows(store, clock.now())
    assert found is not None
    assert (found.sent, found.window, found.complete) == ({"loans.Granted": 3, "loans.Refused": 1}, 90.0, True)
    clock.advance(60)
    one.committed([_sent("loans.Granted")])
    await one.flush()
    found = await recent_flows(store, clock.now())
    assert found is not None
    assert found.sent == {"loans.Granted": 4, "loans.Refused": 1}
    ids = [id for id, _ in await store.list_aggregates(FLOW_KIND, where={}, after=None, limit=10)]
    assert len(ids) == len(set(ids)) == 3
    assert ids[0].startswith(f"{int(clock.now().timestamp() // 60) - 1:010d}-flow-")
    clock.advance(60)  # the first minute is now two minutes back: out of the read
    found = await recent_flows(store, clock.now())
    assert found is not None
    assert found.sent == {"loans.Granted": 1}
    minute = int(clock.now().timestamp() // 60)
    bad = AggregateWrite(FLOW_KIND, f"{minute:010d}-flow-bad", 0, 1, '{"sent": "many"}')
    await store.commit([ChangeSet(writes=[bad])])
    found = await recent_flows(store, clock.now())
    assert found is not None
    assert found.sent == {"loans.Granted": 1}  # an unreadable record is left out, not the whole rate
    clock.advance(300)
    found = await recent_flows(store, clock.now())
    assert found is not None
    assert found.sent == {}


async def test_a_tally_writes_on_its_timer_absolute_counts_and_deletes_its_old_minutes() -> None:
    """The first commit after a write arms the flush timer; a rewrite of a minute carries its total; a record
    ``keep`` minutes old goes in a later flush; a record pruned under it is written again at the next flush."""
    store = await _store(fresh_name("flows"))
    clock = ManualClock(datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC))
    tally = FlowTally(store, Committer(store), clock, flush_interval=0.01, keep=2)
    tally.committed([_sent("loans.Granted")])

    async def granted() -> int | None:
        found = await recent_flows(store, clock.now())
        return found.sent.get("loans.Granted") if found is not None else None

    await wait_until(lambda: granted(), timeout=10, what="the timer's flush")
    tally.committed([_sent("loans.Granted", "loans.Granted")])
    await wait_until(lambda: _equal(granted(), 3), timeout=10, what="the minute's total")
    first = await store.list_aggregates(FLOW_KIND, where={}, after=None, limit=10)
    clock.advance(120)
    tally.committed([_sent("loans.Granted")])
    await tally.close()
    left = await store.list_aggregates(FLOW_KIND, where={}, after=None, limit=10)
    assert [id for id, _ in left] != [id for id, _ in first]
    assert len(left) == 1
    await store.prune(Retained.COUNTERS, time.time() + 1, 100)
    tally.committed([_sent("loans.Granted")])
    await tally.flush()  # its version is gone with the record: refused, kept for the next flush
    await tally.flush()
    assert await granted() == 2


async def _equal(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


def test_an_arrows_rate_is_over_its_producers_window_and_says_where_it_was_counted() -> None:
    """Counts read from the store cover the producer's own window (here 90 s), and the arrow says so."""
    landscape = Landscape([Node("loans", "loans", "domain"), Node("cards", "cards", "domain")],
                          [Edge("loans", "cards", "event", ["Granted"])])  # fmt: skip
    traffic = {"loans": traffic_of("loans", [], [], None, {"loans.Granted": 45}, 90, NOW, sent_from="store")}
    (granted,) = arrow_figures(landscape, traffic, 60)
    assert (granted.sent, granted.rate, granted.window, granted.rate_from) == (45, 0.5, 90, "store")
