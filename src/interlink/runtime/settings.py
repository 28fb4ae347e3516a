"""Runtime settings, with defaults that suit the embedded backends."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from interlink.delivery.retry import RetryPolicy

__all__ = ["DEFAULT_BROKER", "DEFAULT_STORE", "Settings"]

DEFAULT_STORE = "sqlite:///.interlink/{domain}.db"
DEFAULT_BROKER = "sqlite:///.interlink/broker.db"


@dataclass(frozen=True)
class Settings:
    """How a runtime connects and paces its work. ``{domain}`` in ``store_url`` gives each domain its own
    database: domains share no data."""

    store_url: str = field(default_factory=lambda: os.environ.get("INTERLINK_STORE", DEFAULT_STORE))
    broker_url: str = field(default_factory=lambda: os.environ.get("INTERLINK_BROKER", DEFAULT_BROKER))
    #: The retry policy of every subscription that declares none (``retry=`` on the declaration wins).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Consecutive failures of an external service that open its circuit, and seconds it stays open.
    circuit_threshold: int = 5
    circuit_cooldown: float = 30.0
    #: Seconds between two redrive rounds (letters parked after a transient budget); None: no redrive.
    redrive_interval: float | None = 30.0
    #: Where other domains' APIs are (external service name -> base URL); the environment
    #: (``INTERLINK_SERVICE_<NAME>_URL``) and the declaration's default come after.
    service_urls: Mapping[str, str] = field(default_factory=dict)
    consumer_batch: int = 200
    consumers_per_domain: int = 1
    fetch_wait: float = 0.5
    relay_batch: int = 500
    relay_poll_interval: float = 1.0
    #: The runtime hosts the process, so it tunes the garbage collector for a message pump: objects
    #: alive after start-up are frozen out of collections, and young collections run less often.
    #: None leaves the interpreter's settings alone.
    gc_threshold: int | None = 20_000
