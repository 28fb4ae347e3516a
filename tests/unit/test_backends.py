"""Backends are chosen by URL scheme; a missing driver says which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from interlink.exceptions import ConfigurationError, MissingDriverError
from interlink.runtime import backends


@pytest.mark.parametrize(
    ("url", "kind", "extra"),
    [
        ("postgresql://u:pw@h/db", "store", "postgres"),
        ("amqp://guest:pw@h/", "broker", "rabbitmq"),
        ("nats://h:4222", "broker", "nats"),
        ("redis://h:6379/0", "broker", "redis"),
    ],
)
def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, url: str, kind: str, extra: str) -> None:
    """Without the driver installed, choosing its backend raises MissingDriverError naming the extra."""
    real = importlib.import_module

    def without_driver(name: str, package: str | None = None) -> ModuleType:
        if name.startswith("interlink.adapters"):
            raise ModuleNotFoundError(f"No module named '{extra}_driver'", name=f"{extra}_driver")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_driver)
    with pytest.raises(MissingDriverError) as caught:
        backends.open_store(url, "d") if kind == "store" else backends.open_broker(url)
    assert f"pip install 'interlink[{extra}]'" in str(caught.value)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "cls"),
    [
        ("sqlite:///x/{domain}.db", "SqliteStore"),
        ("memory://", "MemoryStore"),
        ("postgresql://u@h/db", "PostgresStore"),
    ],
)
def test_store_chosen_by_scheme(url: str, cls: str) -> None:
    """Each store scheme builds its adapter without I/O; {domain} is filled in."""
    store = backends.open_store(url, "loan-request")
    assert type(store).__name__ == cls
    assert "{domain}" not in store.url


@pytest.mark.parametrize(
    ("url", "cls"),
    [
        ("sqlite:///x/bus.db", "SqliteBroker"),
        ("memory://", "MemoryBroker"),
        ("amqp://guest:guest@127.0.0.1:5672/", "RabbitMqBroker"),
        ("amqps://guest:guest@127.0.0.1:5671/", "RabbitMqBroker"),
        ("nats://127.0.0.1:4222", "NatsBroker"),
        ("redis://127.0.0.1:6379/0", "RedisBroker"),
    ],
)
def test_broker_chosen_by_scheme(url: str, cls: str) -> None:
    """Each broker scheme builds its adapter without I/O."""
    assert type(backends.open_broker(url)).__name__ == cls


def test_unknown_scheme_lists_the_known_ones() -> None:
    """An unknown scheme is a ConfigurationError listing what is known, without the password."""
    with pytest.raises(ConfigurationError, match=r"known: .*sqlite") as caught:
        backends.open_broker("kafka://u:secret@h")
    assert "secret" not in str(caught.value)
