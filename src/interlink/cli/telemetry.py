"""``interlink run --otel``: export spans through the OpenTelemetry SDK (see interlink.observability.sdk);
``--access-log`` and ``--log-payloads`` (see docs/observability.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import typer

from interlink.core.domain import Domain
from interlink.observability.sdk import start_tracing

__all__ = ["AccessLogOption", "LogPayloadsOption", "OtelOption", "tracing_for"]

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

AccessLogOption = Annotated[
    bool,
    typer.Option(
        "--access-log",
        envvar="INTERLINK_ACCESS_LOG",
        help="With --http: one log line per request (method, path without query, status, duration, trace id; "
        "never a body).",
    ),
]
LogPayloadsOption = Annotated[
    bool,
    typer.Option(
        "--log-payloads",
        envvar="INTERLINK_LOG_PAYLOADS",
        help="Let the values quoted by validation errors into the logs (they may hold personal data: for "
        "debugging only).",
    ),
]


def tracing_for(domains: Sequence[Domain], flag: bool) -> Callable[[], None]:
    """Start tracing for a process running ``domains`` if asked; returns what stops it (flushing spans)."""
    stop = start_tracing(",".join(d.name for d in domains), flag)
    return stop or (lambda: None)
