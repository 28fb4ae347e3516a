"""The resilience options of ``interlink run``: retry policy, redrive, consumer batch, visibility timeout,
circuit breaker. Each has an environment variable; docs/resilience.md lists them all."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

import typer

from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import ConfigurationError
from interlink.runtime.settings import Settings

__all__ = [
    "CircuitCooldown",
    "CircuitThreshold",
    "ConsumerBatch",
    "RedriveInterval",
    "RetryAttempts",
    "RetryBaseDelay",
    "RetryBudget",
    "RetryMaxDelay",
    "VisibilityTimeout",
    "resilience_settings",
    "with_broker_option",
]

_POLICY = RetryPolicy()
_SETTINGS = {f.name: f.default for f in dataclasses.fields(Settings)}

RetryAttempts = Annotated[
    int,
    typer.Option(
        envvar="INTERLINK_RETRY_ATTEMPTS", min=1, help="Handler failures (poison) before a message is parked."
    ),
]
RetryBudget = Annotated[
    float,
    typer.Option(
        envvar="INTERLINK_RETRY_BUDGET", min=0, help="Seconds transient failures (outages) are retried before parking."
    ),
]
RetryBaseDelay = Annotated[
    float, typer.Option(envvar="INTERLINK_RETRY_BASE_DELAY", min=0, help="First backoff ceiling, in seconds.")
]
RetryMaxDelay = Annotated[
    float, typer.Option(envvar="INTERLINK_RETRY_MAX_DELAY", min=0, help="Largest delay between two tries, in seconds.")
]
RedriveInterval = Annotated[
    float,
    typer.Option(
        envvar="INTERLINK_REDRIVE_INTERVAL", min=0, help="Seconds between redrives of transient dead letters; 0: off."
    ),
]
ConsumerBatch = Annotated[
    int, typer.Option(envvar="INTERLINK_CONSUMER_BATCH", min=1, help="Messages a consumer fetches and commits at once.")
]
VisibilityTimeout = Annotated[
    float | None,
    typer.Option(
        envvar="INTERLINK_VISIBILITY_TIMEOUT",
        min=0.001,
        help="Seconds an unacked delivery stays hidden (the broker URL's visibility_timeout).",
    ),
]
CircuitThreshold = Annotated[
    int,
    typer.Option(envvar="INTERLINK_CIRCUIT_THRESHOLD", min=1, help="Failures of a source that open its circuit."),
]
CircuitCooldown = Annotated[
    float,
    typer.Option(envvar="INTERLINK_CIRCUIT_COOLDOWN", min=0, help="Seconds an open circuit waits before a trial call."),
]

#: The defaults of the options, taken from RetryPolicy and Settings so there is one source for each.
DEFAULTS: dict[str, Any] = {
    "retry_attempts": _POLICY.max_attempts,
    "retry_budget": _POLICY.budget,
    "retry_base_delay": _POLICY.base_delay,
    "retry_max_delay": _POLICY.max_delay,
    "redrive_interval": _SETTINGS["redrive_interval"],
    "consumer_batch": _SETTINGS["consumer_batch"],
    "visibility_timeout": None,
    "circuit_threshold": _SETTINGS["circuit_threshold"],
    "circuit_cooldown": _SETTINGS["circuit_cooldown"],
}


def resilience_settings(
    *,
    retry_attempts: int,
    retry_budget: float,
    retry_base_delay: float,
    retry_max_delay: float,
    redrive_interval: float,
    consumer_batch: int,
    circuit_threshold: int,
    circuit_cooldown: float,
) -> dict[str, Any]:
    """Settings keyword arguments from the options; a policy that makes no sense is a ConfigurationError."""
    try:
        retry = RetryPolicy(
            max_attempts=retry_attempts, base_delay=retry_base_delay, max_delay=retry_max_delay, budget=retry_budget
        )
    except ValueError as exc:
        raise ConfigurationError(f"retry options: {exc}") from None
    return {
        "retry": retry,
        "redrive_interval": redrive_interval or None,
        "consumer_batch": consumer_batch,
        "circuit_threshold": circuit_threshold,
        "circuit_cooldown": circuit_cooldown,
    }


def with_broker_option(url: str, name: str, value: float | None) -> str:
    """``url`` with its query option ``name`` set to ``value`` (unchanged when ``value`` is None)."""
    if value is None:
        return url
    # Split by hand: urlunsplit would turn sqlite:///file into sqlite:/file.
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != name]
    return f"{base}?{urlencode([*kept, (name, f'{value:g}')])}"
