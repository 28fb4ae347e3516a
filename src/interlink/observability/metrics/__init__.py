"""Metrics: OpenTelemetry instruments (see :mod:`.instruments`), exposed as Prometheus text.

The OpenTelemetry SDK and its Prometheus reader are the optional extra ``interlink[otel]``. Without it, or
until :func:`enable_metrics` runs, every hook of :mod:`.hooks` returns at once. ``interlink run`` enables
metrics when the extra is installed, serves ``/metrics`` on its ``--http`` server and, with ``--metrics
HOST:PORT``, on a server of its own (docs/observability.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlink.exceptions import ConfigurationError
from interlink.observability.metrics import hooks
from interlink.observability.metrics.instruments import INSTRUMENTS, Instrument
from interlink.observability.metrics.recorder import Readings, Recorder

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = [
    "CONTENT_TYPE",
    "INSTRUMENTS",
    "Instrument",
    "Readings",
    "disable_metrics",
    "enable_metrics",
    "hooks",
    "metrics_available",
    "prometheus_text",
    "readings",
    "serve_prometheus",
]

#: The content type of the Prometheus text format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class _Setup:
    provider: Any
    registry: Any  # the prometheus_client registry the reader fills (None with a caller's provider)


_setup: _Setup | None = None


def metrics_available() -> bool:
    """True when the OpenTelemetry SDK and the Prometheus reader (``interlink[otel]``) are installed."""
    try:
        import opentelemetry.exporter.prometheus
        import opentelemetry.sdk.metrics  # noqa: F401
    except ImportError:
        return False
    return True


def enable_metrics(provider: MeterProvider | None = None) -> Recorder:
    """Create the instruments and start recording; idempotent (the running setup is kept).

    Without ``provider``, a meter provider of its own with a Prometheus reader (resource from the
    ``OTEL_*`` variables) backs :func:`prometheus_text`; with one, the metrics go wherever it exports.
    Raises ConfigurationError naming the extra when the SDK is not installed.
    """
    global _setup
    current = hooks.recorder()
    if current is not None:
        return current
    registry = None
    if provider is None:
        if not metrics_available():
            raise ConfigurationError("metrics need the OpenTelemetry SDK: pip install 'interlink[otel]'")
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(registry=registry)
        # No exemplars: Prometheus text 0.0.4 cannot carry them, and looking for one costs on every record.
        provider = SdkMeterProvider(
            metric_readers=[reader], resource=Resource.create(), exemplar_filter=AlwaysOffExemplarFilter()
        )
    from interlink.version import __version__

    recorder = Recorder(provider.get_meter("interlink", __version__))
    _setup = _Setup(provider, registry)
    hooks.install(recorder)
    return recorder


def disable_metrics() -> None:
    """Stop recording and release the meter provider this module created (tests, benchmarks)."""
    global _setup
    hooks.install(None)
    if _setup is not None and _setup.registry is not None:
        _setup.provider.shutdown()
    _setup = None


def readings() -> Readings | None:
    """Where samplers put gauge values, or None when metrics are off."""
    recorder = hooks.recorder()
    return recorder.readings if recorder is not None else None


def prometheus_text() -> bytes:
    """Every metric in the Prometheus text format; raises ConfigurationError when metrics are off."""
    if _setup is None or _setup.registry is None:
        raise ConfigurationError("metrics are off: enable_metrics() (with interlink[otel] installed) first")
    from prometheus_client import generate_latest

    return bytes(generate_latest(_setup.registry))


def serve_prometheus(host: str, port: int) -> Any:
    """Serve ``/metrics`` on ``host:port`` from a thread of prometheus_client; returns its server (shutdown())."""
    if _setup is None or _setup.registry is None:
        raise ConfigurationError("metrics are off: enable_metrics() (with interlink[otel] installed) first")
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=_setup.registry)
    return server
