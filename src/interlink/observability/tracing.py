"""OpenTelemetry spans after the messaging semantic conventions; next to nothing while tracing is off.

Tracing is off until :func:`enable` hands this module a tracer provider (``interlink run`` does so when the
``otel`` extra is installed and the ``OTEL_*`` environment asks for it, see
:mod:`interlink.observability.sdk`). While off, every hook returns one shared no-op context manager and the
W3C ``traceparent`` still travels from message to message (same trace id, a new span id per hop), so a log
search by trace id keeps working without any SDK.

While on, one business action is one trace across domains and processes:

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
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, Tracer, TracerProvider

from interlink.delivery.ids import random_hex

if TYPE_CHECKING:
    from interlink.delivery.envelope import Envelope

__all__ = [
    "OFF",
    "ConsumerSpans",
    "child_traceparent",
    "command",
    "command_event",
    "committing",
    "disable",
    "enable",
    "enabled",
    "inbound_batch",
    "inbound_file",
    "message_created",
    "processing",
    "query",
    "receive_started",
    "received",
    "reply",
    "saga_transition",
    "sending",
    "settling",
    "span_ids",
    "system_of",
    "traceparent_in",
    "use_broker",
]

#: What every hook returns while tracing is off: one shared context manager that does nothing.
OFF: contextlib.nullcontext[None] = contextlib.nullcontext()

_tracer: Tracer | None = None
#: ``messaging.system`` of the messages units of work create (set by the runtime from its broker).
_system = "interlink"
_TRACEPARENT = re.compile(rb'"traceparent"\s*:\s*"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')


class _Message(Protocol):
    """What a send or settle span reads of a message: an outgoing message or a delivery."""

    message_id: str
    body: bytes


def enable(provider: TracerProvider | None = None) -> None:
    """Record spans through ``provider`` (default: the global one) from now on."""
    global _tracer
    from interlink import __version__

    _tracer = (provider or trace.get_tracer_provider()).get_tracer("interlink", __version__)


def disable() -> None:
    """Stop recording spans; the hooks go back to doing nothing."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    """True while spans are recorded."""
    return _tracer is not None


def system_of(broker: object) -> str:
    """``messaging.system`` of a broker adapter: ``RabbitMQBroker`` -> ``rabbitmq`` (the registered value),
    ``NatsBroker`` -> ``nats``, ``RedisBroker`` -> ``redis``, ``SqliteBroker`` -> ``sqlite`` (no registered
    value for these: lowercase names, as the conventions ask)."""
    return type(broker).__name__.removesuffix("Broker").lower() or "interlink"


def use_broker(broker: object) -> None:
    """Name the messaging system of the messages this process creates after ``broker``'s."""
    global _system
    _system = system_of(broker)


def child_traceparent(parent: str | None) -> str:
    """A traceparent for work caused by ``parent`` (same trace, new span id), or a new trace."""
    span = random_hex(8)
    if parent:
        version, trace_id, _, flags = parent.split("-")
        return f"{version}-{trace_id}-{span}-{flags}"
    return f"00-{random_hex(16)}-{span}-01"


def traceparent_in(body: bytes) -> str | None:
    """The ``traceparent`` of an encoded envelope, read without decoding the whole message."""
    found = _TRACEPARENT.search(body)
    return found.group(1).decode() if found else None


def span_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None (no span, or tracing off)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _creation(traceparent: str | None) -> SpanContext | None:
    """The remote span context a ``traceparent`` names (None if absent or invalid).

    Read here rather than through the W3C propagator, which builds a whole Context for it: that was ~8 us a
    call on this machine, several calls per message. Envelopes are validated W3C already (version 00)."""
    if not traceparent or len(traceparent) != 55:
        return None
    try:
        trace_id, span_id, flags = int(traceparent[3:35], 16), int(traceparent[36:52], 16), int(traceparent[53:], 16)
    except ValueError:
        return None
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 0x01))
    return context if context.is_valid else None


def _parent(traceparent: str | None) -> Context | None:
    creation = _creation(traceparent)
    return trace.set_span_in_context(NonRecordingSpan(creation)) if creation is not None else None


def _traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _links(messages: Iterable[_Message]) -> list[Link]:
    contexts = (_creation(traceparent_in(m.body)) for m in messages)
    return [Link(c) for c in contexts if c is not None]


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
    if _tracer is None:
        return child_traceparent(parent)
    context = None if trace.get_current_span().get_span_context().is_valid else _parent(parent)
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
    span = _tracer.start_span(_name("create", destination), context, SpanKind.PRODUCER, attributes)
    span.end()
    return _traceparent(span.get_span_context())


def sending(messages: Sequence[Any], system: str) -> contextlib.AbstractContextManager[Any]:
    """Around a relay's ``publish`` of ``messages`` (outgoing messages): a send span, CLIENT because the
    creation contexts are the ``create`` spans', which it links to."""
    if _tracer is None:
        return OFF
    destination = _one(m.channel for m in messages)
    return _tracer.start_as_current_span(
        _name("publish", destination),
        kind=SpanKind.CLIENT,
        attributes=_messaging("send", "publish", system, destination, messages),
        links=_links(messages),
    )


# -- consumer side -----------------------------------------------------------------------------------


def receive_started() -> int:
    """When a fetch starts (0 while tracing is off): an empty fetch leaves no span, so the receive span is
    only made, with this start time, once messages came (:func:`received`)."""
    return time.time_ns() if _tracer is not None else 0


def received(started: int, subscription: str, channels: Sequence[str], deliveries: Sequence[Any], system: str) -> None:
    """A receive span from ``started`` to now for a fetch that brought ``deliveries``, linked to each one's
    creation context."""
    if _tracer is None or not deliveries:
        return
    destination = channels[0] if len(channels) == 1 else None
    attributes = _messaging("receive", "receive", system, destination, deliveries)
    attributes["messaging.consumer.group.name"] = subscription
    span = _tracer.start_span(
        _name("receive", destination),
        kind=SpanKind.CLIENT,
        attributes=attributes,
        links=_links(deliveries),
        start_time=started,
    )
    span.end()


def processing(
    envelope: Envelope, channel: str, subscription: str, system: str, attempt: int
) -> contextlib.AbstractContextManager[Any]:
    """Around the handling of one message: a process span, a child of the message's creation context (so
    the consumer's work joins the producer's trace) and linked to it."""
    if _tracer is None:
        return OFF
    creation = _creation(envelope.traceparent)
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
    return _tracer.start_as_current_span(
        _name("process", channel),
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=[Link(creation)] if creation is not None else None,
    )


def settling(
    operation: str, subscription: str, channels: Sequence[str], deliveries: Sequence[Any], system: str
) -> contextlib.AbstractContextManager[Any]:
    """Around an ``ack`` or ``retry`` (``operation``) of ``deliveries``: a settle span linked to their
    creation contexts. Nothing for no deliveries."""
    if _tracer is None or not deliveries:
        return OFF
    destination = channels[0] if len(channels) == 1 else None
    attributes = _messaging("settle", operation, system, destination, deliveries)
    attributes["messaging.consumer.group.name"] = subscription
    return _tracer.start_as_current_span(
        _name(operation, destination), kind=SpanKind.CLIENT, attributes=attributes, links=_links(deliveries)
    )


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
        if _tracer is None:
            return OFF
        channel = self._types.get(envelope.type) or envelope.channel
        return processing(envelope, channel, self.subscription, self.system, attempt)

    def settling(self, operation: str, deliveries: Sequence[Any]) -> contextlib.AbstractContextManager[Any]:
        """See :func:`settling`."""
        return settling(operation, self.subscription, self.channels, deliveries, self.system)


# -- the domain's own work ---------------------------------------------------------------------------


def _internal(
    name: str, attributes: dict[str, Any], traceparent: str | None = None
) -> contextlib.AbstractContextManager[Any]:
    if _tracer is None:
        return OFF
    # A child of the current span; with none, of the traceparent the work came with (if any).
    context = (
        None if traceparent is None or trace.get_current_span().get_span_context().is_valid else _parent(traceparent)
    )
    return _tracer.start_as_current_span(name, context, kind=SpanKind.INTERNAL, attributes=attributes)


def committing(domain: str, change_sets: int) -> contextlib.AbstractContextManager[Any]:
    """Around the commit of units of work (one transaction, or one group commit)."""
    if _tracer is None:
        return OFF
    return _internal("commit", {"interlink.domain": domain, "interlink.commit.change_sets": change_sets})


def command(domain: str, name: str, traceparent: str | None) -> contextlib.AbstractContextManager[Any]:
    """Around a command run by the runtime (from the API, a file record): a child of the current span, else
    of the caller's ``traceparent``."""
    if _tracer is None:
        return OFF
    return _internal(f"command {name}", {"interlink.domain": domain, "interlink.command.name": name}, traceparent)


def query(domain: str, name: str, traceparent: str | None) -> contextlib.AbstractContextManager[Any]:
    """Around a query, like :func:`command`."""
    if _tracer is None:
        return OFF
    return _internal(f"query {name}", {"interlink.domain": domain, "interlink.query.name": name}, traceparent)


def command_event(domain: str, command_type: str, command_id: str) -> contextlib.AbstractContextManager[Any]:
    """Around the handling of a command event this domain received (its reply is created inside)."""
    if _tracer is None:
        return OFF
    return _internal(
        f"handle {command_type}",
        {"interlink.domain": domain, "interlink.command.type": command_type, "interlink.command.id": command_id},
    )


def reply(domain: str, reply_type: str, command_id: str, outcome: str) -> contextlib.AbstractContextManager[Any]:
    """Around taking a reply to a command event this domain sent."""
    if _tracer is None:
        return OFF
    return _internal(
        f"reply {reply_type}",
        {
            "interlink.domain": domain,
            "interlink.reply.type": reply_type,
            "interlink.command.id": command_id,
            "interlink.reply.outcome": outcome,
        },
    )


def saga_transition(saga: str, saga_id: str, step: int, status: str) -> contextlib.AbstractContextManager[Any]:
    """Around a saga's move: ``begin`` (it starts), ``step`` (the next step's command), ``compensate`` (a
    compensation's command, or compensated), ``end`` (completed or failed): named after ``status``."""
    if _tracer is None:
        return OFF
    operation = {"running": "step", "compensating": "compensate", "compensated": "compensate"}.get(status, "end")
    if status == "begin":
        operation, status = "begin", "running"
    return _internal(
        f"saga {saga} {operation}",
        {"interlink.saga.name": saga, "interlink.saga.id": saga_id, "interlink.saga.step": step,
         "interlink.saga.status": status, "interlink.saga.operation": operation},
    )  # fmt: skip


def inbound_file(domain: str, source: str, name: str) -> contextlib.AbstractContextManager[Any]:
    """Around the intake of one inbound file."""
    if _tracer is None:
        return OFF
    return _internal(
        f"inbound file {source}",
        {"interlink.domain": domain, "interlink.file.source": source, "interlink.file.name": name},
    )


def inbound_batch(domain: str, source: str, records: int, checkpoint: int) -> contextlib.AbstractContextManager[Any]:
    """Around one batch of an inbound file's records (run and committed together)."""
    if _tracer is None:
        return OFF
    return _internal(
        f"inbound batch {source}",
        {"interlink.domain": domain, "interlink.file.source": source, "interlink.file.records": records,
         "interlink.file.checkpoint": checkpoint},
    )  # fmt: skip
