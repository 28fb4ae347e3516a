"""Choosing a store or broker adapter by URL scheme; drivers are imported only when chosen."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from interlink.exceptions import ConfigurationError, MissingDriverError
from interlink.ports.broker import Broker
from interlink.ports.store import Store
from interlink.urls import redact

__all__ = ["BROKERS", "STORES", "open_broker", "open_store", "redact"]

# scheme -> (module, class, extra that brings its driver)
STORES: dict[str, tuple[str, str, str | None]] = {
    "sqlite": ("interlink.adapters.stores.sqlite", "SqliteStore", None),
    "memory": ("interlink.adapters.stores.memory", "MemoryStore", None),
    "postgresql": ("interlink.adapters.stores.postgres", "PostgresStore", "postgres"),
}
BROKERS: dict[str, tuple[str, str, str | None]] = {
    "memory": ("interlink.adapters.brokers.memory", "MemoryBroker", None),
    "sqlite": ("interlink.adapters.brokers.sqlite", "SqliteBroker", None),
    "amqp": ("interlink.adapters.brokers.rabbitmq", "RabbitMqBroker", "rabbitmq"),
    "amqps": ("interlink.adapters.brokers.rabbitmq", "RabbitMqBroker", "rabbitmq"),
    "nats": ("interlink.adapters.brokers.nats", "NatsBroker", "nats"),
    "tls": ("interlink.adapters.brokers.nats", "NatsBroker", "nats"),
    "redis": ("interlink.adapters.brokers.redis", "RedisBroker", "redis"),
    "rediss": ("interlink.adapters.brokers.redis", "RedisBroker", "redis"),
}


def _load(table: dict[str, tuple[str, str, str | None]], url: str, what: str) -> Any:
    scheme = urlsplit(url).scheme
    if not scheme:
        raise ConfigurationError(f"{what} URL {redact(url)!r} has no scheme; known: {', '.join(sorted(table))}")
    if scheme not in table:
        raise ConfigurationError(
            f"no {what} adapter for {scheme}:// in {redact(url)!r}; known: {', '.join(sorted(table))}"
        )
    module_name, class_name, extra = table[scheme]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if extra is not None and exc.name and not exc.name.startswith("interlink"):
            raise MissingDriverError(scheme, extra) from exc
        raise
    return getattr(module, class_name)


def open_store(url: str, domain: str) -> Store:
    """A store for ``domain`` (not yet connected); ``{domain}`` in the URL is replaced by its name."""
    cls = _load(STORES, url, "store")
    store: Store = cls(url.replace("{domain}", domain), domain=domain)
    return store


def open_broker(url: str) -> Broker:
    """A broker (not yet connected)."""
    cls = _load(BROKERS, url, "broker")
    broker: Broker = cls(url)
    return broker
