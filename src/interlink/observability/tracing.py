"""OpenTelemetry tracing: on or off, the W3C context, and the spans of a domain's own work.

Tracing is off until :func:`enable` hands this module a tracer provider (``interlink run`` does so when the
``otel`` extra is installed and the ``OTEL_*`` environment asks for it, see
:mod:`interlink.observability.sdk`). While off, every hook returns one shared no-op context manager
(:data:`OFF`) and the W3C ``traceparent`` still travels from message to message (same trace id, a new span
id per hop), so a log search by trace id keeps working without any SDK.

The spans of messaging (create, send, receive, process, settle) are in
:mod:`interlink.observability.messaging`, those of HTTP calls in :mod:`interlink.observability.http_tracing`;
here are those of commands, queries, commits, command events, sagas and inbound files. Every span, with its
attributes: docs/observability.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TracerProvider,
)

from interlink.ports.ids import random_hex

__all__ = [
    "OFF",
    "Current",
    "child_traceparent",
    "command",
    "command_event",
    "committing",
    "context_of",
    "current_context",
    "disable",
    "dropped",
    "enable",
    "enabled",
    "inbound_batch",
    "inbound_file",
    "parent_of",
    "query",
    "reply",
    "saga_transition",
    "span_context_of",
    "span_ids",
    "traceparent_of",
    "unsampled",
]

#: What every hook returns while tracing is off: one shared context manager that does nothing.
OFF: contextlib.nullcontext[None] = contextlib.nullcontext()

#: The tracer while tracing is on; None while off (every hook checks it first).
_tracer: Tracer | None = None
#: True when the sampler drops every span under a parent it did not sample (parent-based with the default
#: delegates, a trace-id ratio, always off): then no span is even started there, which saves most of the
#: cost of tracing a sampled-out action. False for a sampler that may record such spans (always on).
_children_follow = False


def enable(provider: TracerProvider | None = None) -> None:
    """Record spans through ``provider`` (default: the global one) from now on."""
    global _tracer, _children_follow
    from interlink.version import __version__

    provider = provider or trace.get_tracer_provider()
    _tracer = provider.get_tracer("interlink", __version__)
    sampler = getattr(provider, "sampler", None)
    described = str(sampler.get_description()) if sampler is not None else ""
    _children_follow = (
        described in ("AlwaysOffSampler",)
        or described.startswith("TraceIdRatioBased")
        or (
            "remoteParentNotSampled:AlwaysOffSampler" in described
            and "localParentNotSampled:AlwaysOffSampler" in described
        )
    )


def disable() -> None:
    """Stop recording spans; the hooks go back to doing nothing."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    """True while spans are recorded."""
    return _tracer is not None


def tracer() -> Tracer | None:
    """The tracer while tracing is on, else None."""
    return _tracer


def child_traceparent(parent: str | None) -> str:
    """A traceparent for work caused by ``parent`` (same trace, new span id), or a new trace."""
    span = random_hex(8)
    if parent:
        version, trace_id, _, flags = parent.split("-")
        return f"{version}-{trace_id}-{span}-{flags}"
    return f"00-{random_hex(16)}-{span}-01"


def span_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None (no span, or tracing off)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def span_context_of(traceparent: str | None) -> SpanContext | None:
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


def dropped(context: SpanContext | None) -> bool:
    """True when a span under ``context`` would not be recorded (its trace was sampled out): the hooks then
    start none."""
    return _children_follow and context is not None and context.is_valid and not context.trace_flags.sampled


class Current:
    """A started span made current for the work inside, ended at exit; an exception leaving it is recorded
    and sets the status ERROR. What ``start_as_current_span`` does, without its two generator-based context
    managers (their cost was a fifth of a span's)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._token is not None:
            otel_context.detach(self._token)
        # Like the API's use_span: only an Exception is an error (not a cancellation, not GeneratorExit).
        if isinstance(error, Exception) and self._span.is_recording():
            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        self._span.end()


def unsampled(context: SpanContext | None) -> contextlib.AbstractContextManager[Any]:
    """Instead of a span under a sampled-out parent: nothing, or, when the parent came from a traceparent,
    that parent made current, so that the work inside knows its trace was sampled out."""
    if context is None or not context.is_remote:
        return OFF
    return Current(NonRecordingSpan(context))


def current_context() -> SpanContext | None:
    """The current span's context while tracing is on and a span is current, else None."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def parent_of(traceparent: str | None) -> SpanContext | None:
    """The parent of a span started now: the current span, else the one ``traceparent`` names."""
    current = trace.get_current_span().get_span_context()
    return current if current.is_valid else span_context_of(traceparent)


def context_of(traceparent: str | None) -> Context | None:
    """A context whose current span is the one ``traceparent`` names, to start a child span in."""
    remote = span_context_of(traceparent)
    return trace.set_span_in_context(NonRecordingSpan(remote)) if remote is not None else None


def traceparent_of(context: SpanContext) -> str:
    """The W3C ``traceparent`` of a span context."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


# -- the domain's own work ---------------------------------------------------------------------------


def _internal(
    name: str, attributes: dict[str, Any], traceparent: str | None = None
) -> contextlib.AbstractContextManager[Any]:
    if _tracer is None:
        return OFF
    # A child of the current span; with none, of the traceparent the work came with (if any).
    parent = parent_of(traceparent)
    if dropped(parent):
        return unsampled(parent)
    context = None if parent is None or not parent.is_remote else trace.set_span_in_context(NonRecordingSpan(parent))
    return Current(_tracer.start_span(name, context, SpanKind.INTERNAL, attributes))


#: The context of a span started as a root whatever is current.
_ROOT = Context()


def committing(domain: str, parents: Sequence[SpanContext | None]) -> contextlib.AbstractContextManager[Any]:
    """Around one transaction committing units of work (a group commit: several), ``parents`` the span each
    was committed from (:func:`current_context` then). One unit of work, or all from one span: a child of
    that span. Units of work of several spans: one span with a link to each (one operation serving many, as
    a batch send links to its messages), under no parent. None when every parent was sampled out."""
    if _tracer is None:
        return OFF
    distinct = {(p.trace_id, p.span_id): p for p in parents if p is not None}
    attributes: dict[str, Any] = {"interlink.domain": domain, "interlink.commit.change_sets": len(parents)}
    if len(distinct) <= 1:
        parent = next(iter(distinct.values()), None)
        if dropped(parent):
            return OFF
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else _ROOT
        return Current(_tracer.start_span("commit", context, SpanKind.INTERNAL, attributes))
    if all(dropped(p) for p in distinct.values()):
        return OFF
    links = [Link(p) for p in distinct.values()]
    return Current(_tracer.start_span("commit", _ROOT, SpanKind.INTERNAL, attributes, links))


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
