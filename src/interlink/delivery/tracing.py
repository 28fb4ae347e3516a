"""W3C Trace Context: carry the trace id from message to message with a new span id each hop."""

from __future__ import annotations

from interlink.delivery.ids import random_hex

__all__ = ["child_traceparent"]


def child_traceparent(parent: str | None) -> str:
    """A traceparent for work caused by ``parent`` (same trace, new span), or a new trace."""
    span = random_hex(8)
    if parent:
        version, trace_id, _, flags = parent.split("-")
        return f"{version}-{trace_id}-{span}-{flags}"
    return f"00-{random_hex(16)}-{span}-01"
