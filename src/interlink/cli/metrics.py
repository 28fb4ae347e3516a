"""``interlink run --metrics HOST:PORT``: Prometheus text for a process, with or without ``--http``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from interlink.exceptions import ConfigurationError
from interlink.observability.metrics import enable_metrics, metrics_available, serve_prometheus
from interlink.runtime.http import HttpEndpoint

__all__ = ["MetricsOption", "start_metrics"]

log = logging.getLogger("interlink.cli")

MetricsOption = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        envvar="INTERLINK_METRICS",
        help="Also serve Prometheus text at http://HOST:PORT/metrics (needs the extra 'otel'; with it installed, "
        "--http serves /metrics too). 'off' records no metrics.",
    ),
]


def start_metrics(metrics: str | None) -> None:
    """Record metrics when the SDK is installed (unless ``off``), and serve them on ``metrics`` if given."""
    if metrics == "off":
        return
    if metrics is None and not metrics_available():
        log.debug("metrics off: the OpenTelemetry SDK is not installed (pip install 'interlink[otel]')")
        return
    endpoint = HttpEndpoint.parse(metrics) if metrics else None
    enable_metrics()
    if endpoint is not None:
        try:
            serve_prometheus(endpoint.host, endpoint.port)
        except OSError as exc:
            raise ConfigurationError(f"--metrics {metrics}: cannot serve there ({exc.strerror})") from exc
        log.info("metrics on http://%s:%d/metrics", endpoint.host, endpoint.port)
