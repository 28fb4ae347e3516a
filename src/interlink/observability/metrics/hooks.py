"""The hook functions the delivery code and the patterns call: one call per place, nothing when off.

Each hook first looks at the installed recorder and returns at once when there is none (the SDK is not
installed, or metrics are off). What must only count once it is committed (dead letters, saga states,
staleness) is registered on the unit of work with ``on_commit`` and recorded by the committer after the
commit, so a rolled-back or replayed batch never counts twice.
"""

from __future__ import annotations

import contextlib
import functools
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from interlink.observability.metrics.recorder import Attributes, Recorder

__all__ = [
    "consumed",
    "dead_lettered",
    "deferred_read",
    "external_call",
    "file_records",
    "messaging_system",
    "notification_fetched",
    "processed",
    "processing",
    "publishing",
    "recorder",
    "replica_applied",
    "reply_applied",
    "retried",
    "saga_entered",
    "settling",
    "watch",
]

_recorder: Recorder | None = None
_NULL = contextlib.nullcontext()
#: Live in-memory readings (circuit states): owner (by weak reference, so a dropped client is forgotten)
#: -> how to read it.
_watched: dict[weakref.ReferenceType[Any], Callable[[Any], Iterable[tuple[str, Attributes, float]]]] = {}

#: ``messaging.system`` per broker URL scheme: the conventions' names where they have one.
_SYSTEMS = {"amqp": "rabbitmq", "amqps": "rabbitmq", "nats": "nats", "redis": "redis", "sqlite": "sqlite",
            "memory": "memory"}  # fmt: skip


class OnCommit(Protocol):
    """What a unit of work offers: a callback run once its change set committed."""

    def on_commit(self, callback: Callable[[], None]) -> None: ...


def recorder() -> Recorder | None:
    """The installed recorder, or None when metrics are off."""
    return _recorder


def install(new: Recorder | None) -> None:
    """Install (or, with None, remove) the recorder every hook writes to."""
    global _recorder
    _recorder = new
    if new is not None:
        new.readings.add_source(_watched_readings)


def messaging_system(scheme: str) -> str:
    """The ``messaging.system`` of a broker URL scheme."""
    return _SYSTEMS.get(scheme, scheme)


def watch(owner: Any, readings: Callable[[Any], Iterable[tuple[str, Attributes, float]]]) -> None:
    """Read ``readings(owner)`` at every collection while ``owner`` lives (circuit states of a client)."""
    _watched[weakref.ref(owner, lambda ref: _watched.pop(ref, None))] = readings


def _watched_readings() -> Iterator[tuple[str, Attributes, float]]:
    for ref, readings in list(_watched.items()):
        owner = ref()
        if owner is not None:
            yield from readings(owner)


# -- messaging ---------------------------------------------------------------------------------------


class _Timed:
    """Records a duration (and error.type on failure) when the block ends."""

    def __init__(self, rec: Recorder, name: str, attributes: Attributes, after: Callable[[str | None], None]) -> None:
        self._rec, self._name, self._attributes, self._after = rec, name, attributes, after

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        attributes = self._attributes if kind is None else {**self._attributes, "error.type": kind.__qualname__}
        self._rec.record(self._name, time.perf_counter() - self._started, attributes)
        self._after(None if kind is None else kind.__qualname__)


def publishing(scheme: str, messages: Sequence[Any]) -> contextlib.AbstractContextManager[None]:
    """Around the relay's publish of a batch: its duration, and the messages sent per destination."""
    rec = _recorder
    if rec is None:
        return _NULL
    system = messaging_system(scheme)

    def sent(error: str | None) -> None:
        for channel, count in Counter(m.channel for m in messages).items():
            attributes: Attributes = {"messaging.system": system, "messaging.destination.name": channel,
                                      "messaging.operation.name": "publish"}  # fmt: skip
            if error is not None:
                attributes["error.type"] = error
            rec.add("messaging.client.sent.messages", count, attributes)

    base: Attributes = {"messaging.system": system, "messaging.operation.name": "publish",
                        "messaging.operation.type": "send"}  # fmt: skip
    return _Timed(rec, "messaging.client.operation.duration", base, sent)


@functools.cache
def _consumer(scheme: str, subscription: str, operation: str) -> Attributes:
    # Cached: one dict per consumer and operation, not one per message (the SDK only reads it).
    return {
        "messaging.system": messaging_system(scheme),
        "messaging.destination.name": subscription,
        "messaging.consumer.group.name": subscription,
        "messaging.operation.name": operation,
    }


def consumed(scheme: str, subscription: str, count: int) -> None:
    """A consumer received ``count`` deliveries of ``subscription``."""
    rec = _recorder
    if rec is not None and count:
        rec.add("messaging.client.consumed.messages", count, _consumer(scheme, subscription, "receive"))


def processing(scheme: str, subscription: str) -> contextlib.AbstractContextManager[None]:
    """Around the handling of one message: ``messaging.process.duration``."""
    rec = _recorder
    if rec is None:
        return _NULL
    return _Timed(rec, "messaging.process.duration", _consumer(scheme, subscription, "process"), _nothing)


def settling(scheme: str, subscription: str) -> contextlib.AbstractContextManager[None]:
    """Around the acknowledgement of a batch: ``messaging.client.operation.duration`` of type settle."""
    rec = _recorder
    if rec is None:
        return _NULL
    return _Timed(rec, "messaging.client.operation.duration", _settle(scheme, subscription), _nothing)


@functools.cache
def _settle(scheme: str, subscription: str) -> Attributes:
    return {**_consumer(scheme, subscription, "ack"), "messaging.operation.type": "settle"}


def _nothing(_: str | None) -> None:
    pass


def processed(domain: str, subscription: str, outcome: str, count: int = 1) -> None:
    """Messages settled by a consumer: success, duplicate, retry or dead_letter."""
    rec = _recorder
    if rec is not None and count:
        rec.add("interlink.messages.processed", count, _outcome(domain, subscription, outcome))


@functools.cache
def _outcome(domain: str, subscription: str, outcome: str) -> Attributes:
    # Cached: counted for every message, with a handful of distinct attribute sets per process.
    return {"interlink.domain": domain, "messaging.consumer.group.name": subscription, "interlink.outcome": outcome}


def retried(domain: str, subscription: str, error_class: str, error: BaseException) -> None:
    """A delivery handed back for a retry."""
    rec = _recorder
    if rec is not None:
        attributes = _failure(domain, subscription, error_class, type(error).__qualname__)
        rec.add("interlink.retries", 1, attributes)
        processed(domain, subscription, "retry")


def dead_lettered(domain: str, subscription: str, error_class: str | None, error: str) -> None:
    """A dead letter committed (``error`` is the letter's ``Type: message``)."""
    rec = _recorder
    if rec is not None:
        attributes = _failure(domain, subscription, error_class or "unknown", error.split(":", 1)[0])
        rec.add("interlink.dead_letters", 1, attributes)
        processed(domain, subscription, "dead_letter")


def _failure(domain: str, subscription: str, error_class: str, error_type: str) -> Attributes:
    return {"interlink.domain": domain, "messaging.consumer.group.name": subscription,
            "interlink.error.class": error_class, "error.type": error_type}  # fmt: skip


# -- patterns ----------------------------------------------------------------------------------------


Now = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _age(since: datetime, now: Now) -> float:
    # Clocks of two processes may disagree by a little: a negative age is a skew, not a time travel.
    return max(0.0, (now() - since).total_seconds())


def _after_commit(uow: OnCommit, name: str, since: datetime, attributes: Attributes, now: Now) -> None:
    rec = _recorder
    if rec is not None:
        uow.on_commit(lambda: rec.record(name, _age(since, now), attributes))


def replica_applied(uow: OnCommit, domain: str, replica: str, event_time: datetime, now: Now = _wall_clock) -> None:
    """Replica lag: from the event's time to the commit of the copy it updated (``now``: the runtime's clock)."""
    _after_commit(uow, "interlink.replica.lag", event_time,
                  {"interlink.domain": domain, "interlink.replica.name": replica}, now)  # fmt: skip


def notification_fetched(
    uow: OnCommit, domain: str, subscription: str, event_time: datetime, now: Now = _wall_clock
) -> None:
    """Fetch-back delay: from the notification's time to the commit of the copy its fetch updated."""
    _after_commit(uow, "interlink.notification.fetch_delay", event_time,
                  {"interlink.domain": domain, "messaging.consumer.group.name": subscription}, now)  # fmt: skip


def reply_applied(
    uow: OnCommit, domain: str, command_type: str, sent_at: datetime, outcome: str, now: Now = _wall_clock
) -> None:
    """Confirmation latency: from the command's sending to the commit of its reply's effects."""
    _after_commit(uow, "interlink.command.confirmation_latency", sent_at, {"interlink.domain": domain,
                  "interlink.command.type": command_type, "interlink.outcome": outcome}, now)  # fmt: skip


def deferred_read(
    domain: str, subscription: str, outcome: str, stale_since: datetime | None = None, now: Now = _wall_clock
) -> None:
    """A deferred read served a copy: ``current`` or ``fresh`` (age 0) or ``stale`` (age since the flag)."""
    rec = _recorder
    if rec is not None:
        age = _age(stale_since, now) if stale_since is not None else 0.0
        attributes: Attributes = {"interlink.domain": domain, "messaging.consumer.group.name": subscription}
        rec.record("interlink.deferred.read_age", age, {**attributes, "interlink.outcome": outcome})


def saga_entered(uow: OnCommit, domain: str, saga: str, before: str | None, after: str) -> None:
    """A saga's state, once committed, if it changed (``before`` None: it started)."""
    rec = _recorder
    if rec is not None and before != after:
        attributes: Attributes = {
            "interlink.domain": domain,
            "interlink.saga.name": saga,
            "interlink.saga.state": after,
        }
        uow.on_commit(lambda: rec.add("interlink.saga.transitions", 1, attributes))


def file_records(domain: str, source: str, accepted: int, rejected: int) -> None:
    """Inbound file records committed, accepted and rejected."""
    rec = _recorder
    if rec is not None:
        for outcome, count in (("accepted", accepted), ("rejected", rejected)):
            if count:
                rec.add("interlink.file.records", count, {"interlink.domain": domain, "interlink.file.source": source,
                        "interlink.outcome": outcome})  # fmt: skip


def external_call(service: str) -> _ExternalCall | contextlib.AbstractContextManager[None]:
    """Around one External Service call (its retries included): ``interlink.external_service.duration``."""
    rec = _recorder
    return _NULL if rec is None else _ExternalCall(rec, service)


class _ExternalCall:
    """Set ``status`` inside the block to label the call with the answer's HTTP status."""

    def __init__(self, rec: Recorder, service: str) -> None:
        self._rec, self._service, self.status = rec, service, 0

    def __enter__(self) -> _ExternalCall:
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, *_: object) -> None:
        attributes: Attributes = {"interlink.external_service.name": self._service}
        status = getattr(error, "status", None) or self.status
        if status:
            attributes["http.response.status_code"] = status
        if kind is not None:
            attributes["error.type"] = kind.__qualname__
        self._rec.record("interlink.external_service.duration", time.perf_counter() - self._started, attributes)
