"""The traffic on each arrow of the landscape: recent message rate, lag and dead letters.

An arrow (:class:`~interlink.specs.landscape.Edge`) carries some message types from a producer domain to a
consumer domain. Its figures are put together from what each domain knows of its own side:

- **rate**: the messages of the arrow's types the producer's commits put in its outbox in the last
  ``window`` seconds. Where the producer runs in this process, a :class:`FlowMeter` fed by its runtime
  (:meth:`~interlink.runtime.DomainRuntime.on_commit`) counts them over a sliding minute (``sent_from``
  ``"process"``). Elsewhere (``interlink console``, which only reads the stores, or a producer run by another
  process) they are read from the flow counts every runtime writes to its domain's store
  (:mod:`interlink.delivery.flow_tally`): the last full minute plus the current one, summed over the processes
  hosting the producer, so ``window`` is 60 to 120 seconds (``sent_from`` ``"store"``). Unknown (None) when the
  producer's store is not read here or no process ever wrote its counts.
- **lag**: the arrow's messages still waiting in the producer's outbox (and the age of the oldest of them),
  and the consumer domain's backlog at the broker (:meth:`~interlink.ports.broker.Broker.backlog`, which
  counts the whole subscription, every arrow into the domain together).
- **dead letters**: the consumer's parked letters of the arrow's types, plus those of its types the broker
  refused from the producer's outbox.

An arrow names the messages it carries without their owner (``Posted``, ``SendSms.Reply``); a type matches
when its name, without a version suffix, ends with one of them.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from interlink.core.messages import split_version
from interlink.delivery.relay import is_parked_outbox
from interlink.exceptions import MessageError
from interlink.ports.envelope import Envelope
from interlink.ports.store import ChangeSet, DeadLetter, OutboxRow
from interlink.specs.landscape import Edge, Landscape
from interlink.specs.model import API_EXPOSURE, INBOUND_FILE

__all__ = [
    "ArrowFigures",
    "DomainTraffic",
    "FlowMeter",
    "ReplicaLag",
    "TypeBacklog",
    "arrow_figures",
    "arrow_id",
    "replica_lag",
    "traffic_of",
]

#: How many outbox rows are read to split the outbox by type (the oldest first).
OUTBOX_SCAN = 2000


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TypeBacklog(_View):
    """The messages of one type waiting in a domain's outbox, and the age in seconds of the oldest."""

    pending: int
    oldest_age: float | None


class DomainTraffic(_View):
    """One domain's side of the arrows it starts or ends, by CloudEvents type."""

    domain: str
    #: Messages of each type its commits put in its outbox in the last ``window`` seconds (None: not observed).
    sent: dict[str, int] | None
    window: float
    #: Where ``sent`` was counted: ``process`` (a meter on this process's commits), ``store`` (the flow counts
    #: of every process hosting the domain), None (unknown).
    sent_from: Literal["process", "store"] | None = None
    #: Messages waiting in its outbox, by type (of the oldest ``OUTBOX_SCAN`` rows).
    outbox: dict[str, TypeBacklog]
    #: Whether ``outbox`` covers every pending row (False when there were more than it reads).
    outbox_complete: bool
    #: Its parked letters by message type: of messages it consumed, and of its own the broker refused.
    parked: dict[str, int]
    refused: dict[str, int]
    #: Messages waiting at the broker for its subscription (None: no broker, or it cannot tell).
    consumer_lag: int | None


class ArrowFigures(_View):
    """The figures of one arrow; None where the console cannot tell (a side it does not host or read)."""

    id: str
    source: str
    target: str
    pattern: str
    reply: bool
    title: str
    carries: list[str]
    #: Messages sent on it in the last ``window`` seconds, and per second.
    sent: int | None
    rate: float | None
    window: float
    #: Where the rate was counted (see :attr:`DomainTraffic.sent_from`).
    rate_from: Literal["process", "store"] | None = None
    #: Its messages still in the producer's outbox, and the age in seconds of the oldest of them.
    outbox_pending: int | None
    outbox_oldest_age: float | None
    #: Messages waiting at the broker for the consumer's subscription (every arrow into it together).
    consumer_lag: int | None
    dead_letters: int | None


class ReplicaLag(_View):
    """How far a replica is behind its producer: the fat events feeding it not applied yet, where they wait."""

    replica: str
    feed: str
    #: Its feed's messages still in the producer's outbox (None: the producer is not read here), the oldest's age.
    outbox_pending: int | None
    outbox_oldest_age: float | None
    #: Messages waiting at the broker for the replica's domain (every message type it consumes together).
    consumer_lag: int | None


def arrow_id(edge: Edge) -> str:
    """The arrow's key, as the console's page builds it from the SVG's ``data-*`` attributes."""
    return f"{edge.source}>{edge.target}:{edge.pattern}" + ("/reply" if edge.reply else "")


class FlowMeter:
    """Counts, per domain and CloudEvents type, the messages committed to the outbox in a sliding window.

    Counts fall into one-second buckets, so memory stays at ``window`` buckets a domain however busy it is;
    the listener runs after every commit group and only adds to a counter.
    """

    def __init__(self, window: float = 60.0, *, now: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._now = now
        self._buckets: dict[str, deque[tuple[int, Counter[str]]]] = {}

    def listener(self, domain: str) -> Callable[[Sequence[ChangeSet]], None]:
        """The commit listener of ``domain``: pass it to its runtime's ``on_commit``."""
        buckets = self._buckets.setdefault(domain, deque())

        def committed(changes: Sequence[ChangeSet]) -> None:
            types = [m.type for change in changes for m in change.outbox]
            if not types:
                return
            second = int(self._now())
            if not buckets or buckets[-1][0] != second:
                buckets.append((second, Counter()))
                self._trim(buckets, second)
            buckets[-1][1].update(types)

        return committed

    def _trim(self, buckets: deque[tuple[int, Counter[str]]], second: int) -> None:
        while buckets and buckets[0][0] <= second - self.window:
            buckets.popleft()

    def recent(self, domain: str) -> dict[str, int] | None:
        """Messages by type in the last ``window`` seconds; None for a domain whose commits are not observed."""
        buckets = self._buckets.get(domain)
        if buckets is None:
            return None
        self._trim(buckets, int(self._now()))
        total: Counter[str] = Counter()
        for _, counts in buckets:
            total.update(counts)
        return dict(total)


def _outbox_by_type(rows: Iterable[OutboxRow], now: datetime) -> dict[str, TypeBacklog]:
    """Pending rows by type; the age of a type's oldest row is read from its envelope's ``time``."""
    counts: Counter[str] = Counter()
    oldest: dict[str, float | None] = {}
    for row in rows:
        kind = row.message.type
        counts[kind] += 1
        if kind not in oldest:  # rows come oldest first: the first of a type is its oldest
            try:
                oldest[kind] = max(0.0, (now - Envelope.decode(row.message.body).time).total_seconds())
            except (MessageError, TypeError):
                oldest[kind] = None
    return {kind: TypeBacklog(pending=n, oldest_age=oldest.get(kind)) for kind, n in counts.items()}


def traffic_of(
    domain: str,
    rows: Sequence[OutboxRow],
    letters: Iterable[DeadLetter],
    lag: int | None,
    sent: dict[str, int] | None,
    window: float,
    now: datetime,
    *,
    sent_from: Literal["process", "store"] | None = None,
) -> DomainTraffic:
    """One domain's traffic from its outbox rows (the oldest :data:`OUTBOX_SCAN`), letters, lag and what it
    sent (counted where ``sent_from`` says)."""
    parked: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for letter in letters:
        (refused if is_parked_outbox(letter) else parked)[letter.message_type] += 1
    return DomainTraffic(
        domain=domain,
        sent=sent,
        window=window,
        sent_from=sent_from if sent is not None else None,
        outbox=_outbox_by_type(rows, now),
        outbox_complete=len(rows) < OUTBOX_SCAN,
        parked=dict(parked),
        refused=dict(refused),
        consumer_lag=lag,
    )


def _carried(edge: Edge, types: Iterable[str]) -> list[str]:
    """The types among ``types`` the arrow carries."""
    names = [d.strip() for detail in edge.details for d in detail.split(",") if d.strip()]
    found = []
    for kind in types:
        base = split_version(kind)[0]
        if any(base == n or base.endswith("." + n) for n in names):
            found.append(kind)
    return found


def _sum(counts: Mapping[str, int], edge: Edge) -> int:
    return sum(counts[k] for k in _carried(edge, counts))


def arrow_figures(landscape: Landscape, traffic: Mapping[str, DomainTraffic], window: float) -> list[ArrowFigures]:
    """The figures of every arrow of ``landscape``, from the traffic of the domains this console reads; an
    arrow's rate is over its producer's window, ``window`` where its rate is unknown."""
    out = []
    for edge in landscape.edges:
        producer, consumer = traffic.get(edge.source), traffic.get(edge.target)
        messages = edge.pattern not in (API_EXPOSURE, INBOUND_FILE)
        sent = _sum(producer.sent, edge) if messages and producer is not None and producer.sent is not None else None
        span = producer.window if sent is not None and producer is not None else window
        pending, oldest = None, None
        if messages and producer is not None:
            backlog = [producer.outbox[k] for k in _carried(edge, producer.outbox)]
            pending = sum(b.pending for b in backlog)
            ages = [b.oldest_age for b in backlog if b.oldest_age is not None]
            oldest = max(ages) if ages else None
        dead = None
        if messages and (consumer is not None or producer is not None):
            dead = (_sum(consumer.parked, edge) if consumer is not None else 0) + (
                _sum(producer.refused, edge) if producer is not None else 0
            )
        out.append(
            ArrowFigures(
                id=arrow_id(edge),
                source=edge.source,
                target=edge.target,
                pattern=edge.pattern,
                reply=edge.reply,
                title=edge.title,
                carries=list(edge.details),
                sent=sent,
                rate=None if sent is None else sent / span,
                window=span,
                rate_from=producer.sent_from if sent is not None and producer is not None else None,
                outbox_pending=pending,
                outbox_oldest_age=oldest,
                consumer_lag=consumer.consumer_lag if messages and consumer is not None else None,
                dead_letters=dead,
            )
        )
    return out


def replica_lag(replica: str, feed: str, consumer: DomainTraffic, traffic: Mapping[str, DomainTraffic]) -> ReplicaLag:
    """The lag of ``consumer``'s replica fed by events of type ``feed`` (``<producer>.<Event>[.vN]``), from the
    traffic of the domains read here."""
    owner = split_version(feed)[0].rpartition(".")[0]
    producer = traffic.get(owner)
    backlog = None
    if producer is not None:
        found = [b for kind, b in producer.outbox.items() if split_version(kind)[0] == split_version(feed)[0]]
        ages = [b.oldest_age for b in found if b.oldest_age is not None]
        backlog = (sum(b.pending for b in found), max(ages) if ages else None)
    return ReplicaLag(
        replica=replica,
        feed=feed,
        outbox_pending=None if backlog is None else backlog[0],
        outbox_oldest_age=None if backlog is None else backlog[1],
        consumer_lag=consumer.consumer_lag,
    )
