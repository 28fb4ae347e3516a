"""``interlink run --otel``: export spans through the OpenTelemetry SDK (see interlink.observability.sdk)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import typer

from interlink.core.domain import Domain
from interlink.observability.sdk import start_tracing

__all__ = ["OtelOption", "tracing_for"]

OtelOption = Annotated[
    bool,
    typer.Option(
        "--otel",
        envvar="INTERLINK_OTEL",
        help="Export spans with the OpenTelemetry SDK (the otel extra), configured by the OTEL_* variables; "
        "on without this flag too when OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT is set. "
        "See docs/observability.md.",
    ),
]


def tracing_for(domains: Sequence[Domain], flag: bool) -> Callable[[], None]:
    """Start tracing for a process running ``domains`` if asked; returns what stops it (flushing spans)."""
    stop = start_tracing(",".join(d.name for d in domains), flag)
    return stop or (lambda: None)
