"""The messaging spans, after the OpenTelemetry messaging semantic conventions; nothing while tracing is off.

While tracing is on (:mod:`interlink.observability.tracing`), one business action is one trace across
domains and processes:

- ``create {channel}`` (PRODUCER) for each message a unit of work stages, a child of the span it was staged
  in; its context is the message's creation context, carried in the envelope's ``traceparent``;
- ``publish {channel}`` (send, CLIENT) for each batch the relay hands the broker, linked to the creation
  context of every message in it;
- ``receive {channel}`` (CLIENT) for each batch a consumer fetched, linked likewise;
- ``process {channel}`` (CONSUMER) for each message handled, a child of its creation context and linked to it;
- ``ack {channel}`` / ``retry {channel}`` (settle, CLIENT) for what a consumer settles.

The span names and attributes are listed in docs/observability.md.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanKind

from interlink.observability import tracing
from interlink.observability.tracing import (
    OFF,
    Current,
    child_traceparent,
    dropped,
    parent_of,
    span_context_of,
    traceparent_of,
    unsampled,
)
from interlink.ports.ids import random_hex

if TYPE_CHECKING:
    from interlink.ports.envelope import Envelope

__all__ = [
    "ConsumerSpans",
    "message_created",
    "processing",
    "receive_started",
    "received",
    "sending",
    "settling",
    "system_of",
    "traceparent_in",
    "use_broker",
]

#: ``messaging.system`` of the messages units of work create (set by the runtime from its broker).
_system = "interlink"
#: The context of a span started as a root whatever is current (a batch's spans serve many traces).
_ROOT = Context()
_TRACEPARENT = re.compile(rb'"traceparent"\s*:\s*"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')


class _Message(Protocol):
    """What a send or settle span reads of a message: an outgoing message or a delivery."""

    message_id: str
    body: bytes


def system_of(broker: object) -> str:
    """``messaging.system`` of a broker adapter: ``RabbitMQBroker`` -> ``rabbitmq`` (the registered value),
    ``NatsBroker`` -> ``nats``, ``RedisBroker`` -> ``redis``, ``SqliteBroker`` -> ``sqlite`` (no registered
    value for these: lowercase names, as the conventions ask)."""
    return type(broker).__name__.removesuffix("Broker").lower() or "interlink"


def use_broker(broker: object) -> None:
    """Name the messaging system of the messages this process creates after ``broker``'s."""
    global _system
    _system = system_of(broker)


def traceparent_in(body: bytes) -> str | None:
    """The ``traceparent`` of an encoded envelope, read without decoding the whole message."""
    found = _TRACEPARENT.search(body)
    return found.group(1).decode() if found else None


def _linked(span: Span, messages: Iterable[_Message]) -> Span:
    """``span`` with a link to the creation context of each of ``messages``, when it records: a batch span
    that was sampled out (under a ratio sampler, most of them) reads no message's traceparent."""
    if span.is_recording():
        for message in messages:
            if (context := span_context_of(traceparent_in(message.body))) is not None:
                span.add_link(context)
    return span


def _messaging(
    operation_type: str, operation_name: str, system: str, destination: str | None, messages: Sequence[_Message]
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.operation.type": operation_type,
        "messaging.operation.name": operation_name,
        "messaging.system": system,
    }
    if destination is not None:
        attributes["messaging.destination.name"] = destination
    if len(messages) == 1:
        attributes["messaging.message.id"] = messages[0].message_id
    elif len(messages) > 1:
        attributes["messaging.batch.message_count"] = len(messages)
    return attributes


def _one(channels: Iterable[str]) -> str | None:
    distinct = set(channels)
    return distinct.pop() if len(distinct) == 1 else None


def _name(operation: str, destination: str | None) -> str:
    return f"{operation} {destination}" if destination else operation


# -- producer side -----------------------------------------------------------------------------------


def message_created(
    parent: str | None, *, destination: str, message_id: str, message_type: str, conversation_id: str | None
) -> str:
    """The ``traceparent`` a new message carries: a ``create`` span's context (tracing on), else ``parent``'s
    trace with a new span id. The span is a child of the current span, else of ``parent``."""
    if tracing._tracer is None:
        return child_traceparent(parent)
    above = parent_of(parent)
    if dropped(above):
        assert above is not None
        # What the SDK would carry: the same trace, not sampled, a span id of its own.
        return f"00-{above.trace_id:032x}-{random_hex(8)}-{above.trace_flags:02x}"
    context = None if above is None or not above.is_remote else trace.set_span_in_context(NonRecordingSpan(above))
    attributes = {
        "messaging.operation.type": "create",
        "messaging.operation.name": "create",
        "messaging.system": _system,
        "messaging.destination.name": destination,
        "messaging.message.id": message_id,
        "cloudevents.event_type": message_type,
    }
    if conversation_id:
        attributes["messaging.message.conversation_id"] = conversation_id
    span = tracing._tracer.start_span(_name("create", destination), context, SpanKind.PRODUCER, attributes)
    span.end()
    return traceparent_of(span.get_span_context())


def sending(messages: Sequence[Any], system: str) -> contextlib.AbstractContextManager[Any]:
    """Around a relay's ``publish`` of ``messages`` (outgoing messages): a send span, CLIENT because the
    creation contexts are the ``create`` spans', which it links to."""
    if tracing._tracer is None:
        return OFF
    destination = _one(m.channel for m in messages)
    attributes = _messaging("send", "publish", system, destination, messages)
    span = tracing._tracer.start_span(_name("publish", destination), _ROOT, SpanKind.CLIENT, attributes)
    return Current(_linked(span, messages))


# -- consumer side -----------------------------------------------------------------------------------


def receive_started() -> int:
    """When a fetch starts (0 while tracing is off): an empty fetch leaves no span, so the receive span is
    only made, with this start time, once messages came (:func:`received`)."""
    return time.time_ns() if tracing._tracer is not None else 0


def received(started: int, subscription: str, channels: Sequence[str], deliveries: Sequence[Any], system: str) -> None:
    """A receive span from ``started`` to now for a fetch that brought ``deliveries``, linked to each one's
    creation context."""
    if tracing._tracer is None or not deliveries:
        return
    destination = channels[0] if len(channels) == 1 else None
    attributes = _messaging("receive", "receive", system, destination, deliveries)
    attributes["messaging.consumer.group.name"] = subscription
    span = tracing._tracer.start_span(
        _name("receive", destination), _ROOT, SpanKind.CLIENT, attributes, start_time=started
    )
    _linked(span, deliveries).end()


def processing(
    envelope: Envelope, channel: str, subscription: str, system: str, attempt: int
) -> contextlib.AbstractContextManager[Any]:
    """Around the handling of one message: a process span, a child of the message's creation context (so
    the consumer's work joins the producer's trace) and linked to it."""
    if tracing._tracer is None:
        return OFF
    creation = span_context_of(envelope.traceparent)
    if dropped(creation):
        return unsampled(creation)
    parent = trace.set_span_in_context(NonRecordingSpan(creation)) if creation is not None else None
    attributes: dict[str, Any] = {
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.system": system,
        "messaging.destination.name": channel,
        "messaging.consumer.group.name": subscription,
        "messaging.message.id": envelope.id,
        "cloudevents.event_type": envelope.type,
        "interlink.delivery.attempt": attempt,
    }
    if envelope.correlationid:
        attributes["messaging.message.conversation_id"] = envelope.correlationid
    links = [Link(creation)] if creation is not None else None
    return Current(tracing._tracer.start_span(_name("process", channel), parent, SpanKind.CONSUMER, attributes, links))


def settling(
    operation: str, subscription: str, channels: Sequence[str], deliveries: Sequence[Any], system: str
) -> contextlib.AbstractContextManager[Any]:
    """Around an ``ack`` or ``retry`` (``operation``) of ``deliveries``: a settle span linked to their
    creation contexts. Nothing for no deliveries."""
    if tracing._tracer is None or not deliveries:
        return OFF
    destination = channels[0] if len(channels) == 1 else None
    attributes = _messaging("settle", operation, system, destination, deliveries)
    attributes["messaging.consumer.group.name"] = subscription
    span = tracing._tracer.start_span(_name(operation, destination), _ROOT, SpanKind.CLIENT, attributes)
    return Current(_linked(span, deliveries))


class ConsumerSpans:
    """The receive, process and settle spans of one consumer: its subscription, its broker's messaging
    system, and the channel of each message type it takes (a reply's is the reply channel it came on)."""

    def __init__(self, subscription: str, channels: Sequence[str], broker: object, types: Mapping[str, str]):
        self.subscription, self.channels, self.system = subscription, tuple(channels), system_of(broker)
        self._types = dict(types)

    def received(self, started: int, deliveries: Sequence[Any]) -> None:
        """See :func:`received`."""
        received(started, self.subscription, self.channels, deliveries, self.system)

    def processing(self, envelope: Envelope, attempt: int) -> contextlib.AbstractContextManager[Any]:
        """See :func:`processing`."""
        if tracing._tracer is None:
            return OFF
        channel = self._types.get(envelope.type) or envelope.channel
        return processing(envelope, channel, self.subscription, self.system, attempt)

    def settling(self, operation: str, deliveries: Sequence[Any]) -> contextlib.AbstractContextManager[Any]:
        """See :func:`settling`."""
        return settling(operation, self.subscription, self.channels, deliveries, self.system)
