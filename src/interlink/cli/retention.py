"""The retention options of ``interlink run``: how long inbox marks, idempotency keys, stored replies, ended
sagas and counters are kept, and how often they are pruned. Each has an environment variable; docs/retention.md
lists them."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from interlink.exceptions import ConfigurationError
from interlink.runtime.retention import shown_duration as _shown
from interlink.runtime.settings import Retention

__all__ = [
    "DEFAULTS",
    "PruneBatch",
    "PruneInterval",
    "RetainCounters",
    "RetainIdempotency",
    "RetainInbox",
    "RetainReplies",
    "RetainSagas",
    "parse_duration",
    "retention_settings",
]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_HELP = "How long {what} are kept: a duration such as 90s, 30m, 24h, 7d (seconds without a unit), or 'forever'."

RetainInbox = Annotated[
    str,
    typer.Option(
        envvar="INTERLINK_RETAIN_INBOX",
        help=_HELP.format(what="inbox marks") + " Must exceed the broker's redelivery window.",
    ),
]
RetainIdempotency = Annotated[
    str, typer.Option(envvar="INTERLINK_RETAIN_IDEMPOTENCY", help=_HELP.format(what="Idempotency-Key records"))
]
RetainReplies = Annotated[
    str, typer.Option(envvar="INTERLINK_RETAIN_REPLIES", help=_HELP.format(what="stored command replies"))
]
RetainSagas = Annotated[
    str, typer.Option(envvar="INTERLINK_RETAIN_SAGAS", help=_HELP.format(what="ended sagas (running ones always)"))
]
RetainCounters = Annotated[
    str,
    typer.Option(
        envvar="INTERLINK_RETAIN_COUNTERS",
        help=_HELP.format(what="notification counters not written since (a stopped process's)"),
    ),
]
PruneInterval = Annotated[
    float,
    typer.Option(envvar="INTERLINK_PRUNE_INTERVAL", min=0, help="Seconds between two pruning rounds; 0: no pruning."),
]
PruneBatch = Annotated[
    int, typer.Option(envvar="INTERLINK_PRUNE_BATCH", min=1, help="Rows deleted per pruning transaction.")
]


_RETENTION = Retention()
#: The defaults of the options, taken from Retention so there is one source for each.
DEFAULTS: dict[str, Any] = {
    "retain_inbox": _shown(_RETENTION.inbox),
    "retain_idempotency": _shown(_RETENTION.idempotency),
    "retain_replies": _shown(_RETENTION.replies),
    "retain_sagas": _shown(_RETENTION.sagas),
    "retain_counters": _shown(_RETENTION.counters),
    "prune_interval": _RETENTION.interval,
    "prune_batch": _RETENTION.batch,
}


def parse_duration(text: str, option: str) -> float | None:
    """Seconds of a duration like ``7d``, ``24h``, ``30m``, ``90s`` or ``120``; None for ``forever``."""
    if text.strip().lower() in ("forever", "off", "never"):
        return None
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigurationError(f"--{option}: {text!r} is not a positive duration (e.g. 90s, 30m, 24h, 7d, forever)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def retention_settings(
    *,
    retain_inbox: str,
    retain_idempotency: str,
    retain_replies: str,
    retain_sagas: str,
    retain_counters: str = DEFAULTS["retain_counters"],
    prune_interval: float,
    prune_batch: int,
) -> Retention:
    """The Retention of the options; a duration that makes no sense is a ConfigurationError."""
    return Retention(
        inbox=parse_duration(retain_inbox, "retain-inbox"),
        idempotency=parse_duration(retain_idempotency, "retain-idempotency"),
        replies=parse_duration(retain_replies, "retain-replies"),
        sagas=parse_duration(retain_sagas, "retain-sagas"),
        counters=parse_duration(retain_counters, "retain-counters"),
        interval=prune_interval or None,
        batch=prune_batch,
    )
