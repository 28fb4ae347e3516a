"""The landscape's figures per arrow: the flow meter's sliding window, and the arrows' sums by message type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlink.operations import FlowMeter, arrow_figures
from interlink.operations.flows import replica_lag, traffic_of
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import ChangeSet, DeadLetter, OutboxRow
from interlink.specs.landscape import Edge, Landscape, Node

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
