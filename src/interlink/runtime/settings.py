"""Runtime settings, with defaults that suit the embedded backends."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import ConfigurationError

__all__ = ["DEFAULT_BROKER", "DEFAULT_STORE", "Retention", "Settings"]

DEFAULT_STORE = "sqlite:///.interlink/{domain}.db"
DEFAULT_BROKER = "sqlite:///.interlink/broker.db"


DAY = 86_400.0


@dataclass(frozen=True)
class Retention:
    """How long the framework's own records are kept, in seconds (None: for good), and how they are pruned.

    Pruning runs in the background of every domain runtime, ``batch`` rows per transaction, every
    ``interval`` seconds (None: never). The inbox window must exceed the broker's redelivery window
    (checked at start-up). See docs/retention.md.
    """

    #: Inbox marks: a message redelivered later than this is handled again.
    inbox: float | None = 7 * DAY
    #: Idempotency-Key records: a request repeated later than this runs again.
    idempotency: float | None = DAY
    #: Stored command replies (``~reply``): a command repeated later than this runs again.
    replies: float | None = 7 * DAY
    #: Ended sagas (completed, compensated, failed); running sagas are never pruned.
    sagas: float | None = 30 * DAY
    interval: float | None = 300.0
    batch: int = 1000
    #: Notification counters not written for this long (a stopped process's); live ones are rewritten.
    counters: float | None = 30 * DAY
    #: Entries of the operators' audit log (docs/operations.md): evidence, so kept long.
    audit: float | None = 400 * DAY

    def __post_init__(self) -> None:
        windows = (self.inbox, self.idempotency, self.replies, self.sagas, self.counters, self.audit, self.interval)
        if any(w is not None and w <= 0 for w in windows) or self.batch < 1:
            raise ConfigurationError("retention windows and the prune interval must be positive, the batch at least 1")


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
    #: How long inbox marks, idempotency keys, stored replies, ended sagas and counters are kept (docs/retention.md).
    retention: Retention = field(default_factory=Retention)
    #: Where other domains' APIs are (external service name -> base URL); the environment
    #: (``INTERLINK_SERVICE_<NAME>_URL``) and the declaration's default come after.
    service_urls: Mapping[str, str] = field(default_factory=dict)
    consumer_batch: int = 200
    consumers_per_domain: int = 1
    fetch_wait: float = 0.5
    relay_batch: int = 500
    relay_poll_interval: float = 1.0
    #: Seconds between two samplings of the stores' gauges (outbox, sagas, pending flags) when metrics are on.
    metrics_interval: float = 15.0
    #: The runtime hosts the process, so it tunes the garbage collector for a message pump: objects
    #: alive after start-up are frozen out of collections, and young collections run less often.
    #: None leaves the interpreter's settings alone.
    gc_threshold: int | None = 20_000
