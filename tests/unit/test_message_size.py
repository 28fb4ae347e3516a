"""A command that would emit a message over the broker's limit fails in its own transaction, 422 over HTTP."""

from __future__ import annotations

import httpx
import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.brokers.rabbitmq import RabbitMqBroker
from interlink.adapters.brokers.redis.config import parse_url as redis_settings
from interlink.adapters.brokers.sqlite import SQLITE_MAX_LENGTH, SqliteBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import ConfigurationError, MessageTooLarge
from interlink.patterns.api_exposure import build_api
from interlink.runtime import DomainRuntime
from tests.support.refusal_app import Note, emitter, note

LIMIT = 4096


async def test_command_over_the_limit_answers_422_problem_json_naming_the_limit() -> None:
    """POST of a command whose event would be 10 kB on a broker taking 4 kB: 422 problem+json naming the
    type, the size and the limit; nothing committed; the same command with a small event succeeds."""
    async with MemoryStore(domain="emitter") as store, MemoryBroker(max_message_size=LIMIT) as broker:
        host = DomainRuntime(emitter, store, broker)
        transport = httpx.ASGITransport(app=build_api(emitter, lambda: host))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            refused = await client.post("/notes", json={"n": 1, "padding": 10_000})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["status"] == 422
            assert "emitter.Noted" in problem["detail"]
            assert f"over the broker's limit of {LIMIT} bytes" in problem["detail"]
            assert await store.load(Note.aggregate_name(), "1") is None
            assert (await store.outbox_status()).pending == 0
            accepted = await client.post("/notes", json={"n": 1, "padding": 10})
            assert accepted.status_code == 200, accepted.text
            assert (await store.outbox_status()).pending == 1


async def test_the_limit_counts_the_whole_envelope_not_only_the_data() -> None:
    """The check is on the encoded message: data just under the limit, with the envelope around it, is over."""
    async with MemoryStore(domain="emitter") as store, MemoryBroker(max_message_size=LIMIT) as broker:
        host = DomainRuntime(emitter, store, broker)
        with pytest.raises(MessageTooLarge) as refused:
            await host.execute(note, {"n": 2, "padding": LIMIT - 50})
        assert refused.value.limit == LIMIT
        assert refused.value.size > LIMIT
        assert refused.value.message_type == "emitter.Noted"


def test_memory_broker_limit_comes_from_its_url() -> None:
    """memory://?max_message_size=N sets the limit; a limit that is not a positive whole number is refused."""
    assert MemoryBroker("memory://?max_message_size=123").max_message_size == 123
    assert MemoryBroker("memory://").max_message_size is None
    with pytest.raises(ConfigurationError, match="max_message_size"):
        MemoryBroker("memory://?max_message_size=1.5")
    with pytest.raises(ConfigurationError, match="max_message_size"):
        MemoryBroker("memory://", max_message_size=0)


def test_broker_urls_set_the_limit_and_refuse_nonsense() -> None:
    """Each URL's max_message_size (bytes) is the adapter's limit until the server says otherwise; defaults
    are SQLite's own limit and RabbitMQ's default; a limit that is not a positive whole number is refused."""
    assert SqliteBroker("sqlite:///b.db?max_message_size=10").max_message_size == 10
    assert SqliteBroker("sqlite:///b.db").max_message_size == SQLITE_MAX_LENGTH
    assert RabbitMqBroker("amqp://h/?max_message_size=10").max_message_size == 10
    assert RabbitMqBroker("amqp://h/").max_message_size == 128 * 1024 * 1024
    assert RabbitMqBroker("amqp://h/", max_message_size=20).max_message_size == 20
    assert redis_settings("redis://h/0?max_message_size=10").max_message_size == 10
    assert redis_settings("redis://h/0").max_message_size is None
    with pytest.raises(ConfigurationError, match="max_message_size"):
        SqliteBroker("sqlite:///b.db?max_message_size=0")
    with pytest.raises(ConfigurationError, match="max_message_size"):
        RabbitMqBroker("amqp://h/?max_message_size=-1")
    with pytest.raises(ConfigurationError, match="max_message_size"):
        redis_settings("redis://h/0?max_message_size=x")
