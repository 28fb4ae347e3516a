"""The OpenTelemetry SDK for ``interlink run``, configured by the standard ``OTEL_*`` environment variables.

Tracing is on when ``--otel`` is given, or ``OTEL_TRACES_EXPORTER`` names an exporter other than ``none``, or
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true``
turns it off whatever else says. It needs the ``otel`` extra (``pip install 'interlink[otel]'``).

The SDK reads the rest itself: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (``service.name``
defaults to the names of the domains the process runs), ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers,
timeout, compression), ``OTEL_TRACES_SAMPLER`` and its argument, ``OTEL_BSP_*`` (batching).
``OTEL_TRACES_EXPORTER`` takes ``otlp`` (the default; ``OTEL_EXPORTER_OTLP_PROTOCOL`` ``http/protobuf``, or
``grpc`` when ``opentelemetry-exporter-otlp-proto-grpc`` is installed), ``console`` and ``none``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from interlink.exceptions import ConfigurationError
from interlink.observability import tracing

__all__ = ["start_tracing", "tracing_wanted"]

_EXTRA = "pip install 'interlink[otel]'"


def tracing_wanted(flag: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``--otel`` (``flag``) or the environment asks for spans to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER")
    if exporter is not None:
        return flag or exporter.strip().lower() != "none"
    return flag or bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def start_tracing(
    service_name: str, flag: bool = False, environ: Mapping[str, str] = os.environ
) -> Callable[[], None] | None:
    """Set up the SDK and turn tracing on if asked (see the module docstring); returns what flushes and stops
    it at shutdown, or None when tracing stays off. Raises ConfigurationError naming the missing extra."""
    if not tracing_wanted(flag, environ):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(f"tracing is asked for (--otel or OTEL_*) but the SDK is missing: {_EXTRA}") from exc
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service_name}))
    provider = TracerProvider(resource=resource)
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    for name in names:
        if name != "none":
            provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    trace.set_tracer_provider(provider)
    tracing.enable(provider)

    def stop() -> None:
        tracing.disable()
        provider.shutdown()  # exports what the batch processor still holds

    return stop


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={name!r} is not supported here: otlp, console or none")
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    try:
        if protocol == "grpc":
            # An exporter of its own extra (it pulls in grpcio): imported by name, typed by nobody here.
            return importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter").OTLPSpanExporter()
        if protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            return Http()
    except ImportError as exc:
        extra = "pip install opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else _EXTRA
        raise ConfigurationError(f"the OTLP exporter for {protocol} is missing: {extra}") from exc
    raise ConfigurationError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: http/protobuf or grpc")
