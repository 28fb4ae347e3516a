"""A message the broker refuses for good never stops a domain's outbox, on every broker.

Each broker runs with a limit of about 1 MiB of its own (a private server where the limit is the server's):
a 2 MiB event committed before three small ones is parked in the emitter's dead letters with the broker's
reason while the three small ones are delivered; once the limit is raised, the parked one is replayed and
delivered once. A command that would emit a message over the limit fails in its own transaction instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.delivery.relay import Relay
from interlink.exceptions import MessageTooLarge
from interlink.ports.broker import Subscription
from interlink.ports.store import ChangeSet
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.private_nats import PrivateNats
from tests.support.private_rabbitmq import PrivateRabbitMq, require_rabbitmq_server
from tests.support.private_redis import private_redis
from tests.support.refusal_app import DOMAINS, Note, Seen, note, noted_message
from tests.support.services import fresh_name

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
SMALL_LIMIT = 1024 * 1024
LARGE_LIMIT = 8 * 1024 * 1024
BIG = 2 * 1024 * 1024  # over every small limit, under every large one


@dataclass
class Limited:
    """A broker whose limit starts at about SMALL_LIMIT and can be raised to LARGE_LIMIT."""

    small_url: str
    large_url: str
    raise_limit: Callable[[], Awaitable[None]]
    #: Where the adapter knows the small limit before any refusal (RabbitMQ cannot tell a client).
    configured_url: str = ""

    def __post_init__(self) -> None:
        self.configured_url = self.configured_url or self.small_url


async def _nothing() -> None:
    return None


@pytest.fixture(params=["embedded", "memory", "rabbitmq", "nats", "redis"])
async def limited(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Limited]:
    """A broker with a small limit of its own, for this test only."""
    kind = request.param
    if kind == "embedded":
        url = f"sqlite:///{tmp_path}/broker.db"
        yield Limited(f"{url}?max_message_size={SMALL_LIMIT}", url, _nothing)
    elif kind == "memory":
        url = f"memory://{fresh_name('refused')}"
        yield Limited(f"{url}?max_message_size={SMALL_LIMIT}", url, _nothing)
    elif kind == "nats":
        config = tmp_path / "nats.conf"
        config.write_text(f"max_payload: {SMALL_LIMIT}\n")
        server = PrivateNats(tmp_path / "nats", "-c", str(config))
        server.start()

        async def restart_with_larger_payload() -> None:
            config.write_text(f"max_payload: {LARGE_LIMIT}\n")
            server.restart()

        try:
            yield Limited(server.url, server.url, restart_with_larger_payload)
        finally:
            server.stop()
    elif kind == "redis":
        with private_redis(tmp_path / "redis") as redis_server:
            async with Redis.from_url(redis_server.url) as raw:
                await raw.config_set("proto-max-bulk-len", SMALL_LIMIT)  # the smallest Redis allows

                async def raise_bulk_len() -> None:
                    await raw.config_set("proto-max-bulk-len", LARGE_LIMIT)

                yield Limited(redis_server.url, redis_server.url, raise_bulk_len)
    else:
        require_rabbitmq_server()
        node = PrivateRabbitMq(tmp_path / "rabbitmq", config=f"max_message_size = {SMALL_LIMIT}\n")
        node.start()

        async def raise_max_message_size() -> None:
            node.ctl("eval", f"application:set_env(rabbit, max_message_size, {LARGE_LIMIT}).")

        # The adapter is told the large limit from the start: the node's own refusal is what is tested.
        url = f"{node.url}?namespace=refused&max_message_size={LARGE_LIMIT}"
        configured = f"{node.url}?namespace=refused&max_message_size={SMALL_LIMIT}"
        try:
            yield Limited(url, url, raise_max_message_size, configured)
        finally:
            node.stop()


def _settings(tmp_path: Path, broker_url: str) -> Settings:
    return Settings(
        store_url=f"sqlite:///{tmp_path}/{{domain}}.db",
        broker_url=broker_url,
        relay_poll_interval=0.1,
        fetch_wait=0.1,
    )


async def _applied(rt: Runtime, numbers: range) -> dict[str, int]:
    """How many times the listener applied the event of each number it has seen."""
    counts = {}
    for n in numbers:
        stored = await rt["listener"].store.load(Seen.aggregate_name(), str(n))
        if stored is not None:
            counts[str(n)] = json.loads(stored.data)["applied"]
    return counts


async def test_refused_message_is_parked_the_rest_flow_and_it_is_replayed_once_the_limit_is_raised(
    limited: Limited, tmp_path: Path
) -> None:
    """A 2 MiB event ahead of three small ones: the small ones are delivered, the large one is a dead letter
    with the broker's reason, and after raising the limit it is replayed and delivered once."""
    big = noted_message(0, padding=BIG)
    smalls = [noted_message(n) for n in (1, 2, 3)]
    async with Runtime(DOMAINS, _settings(tmp_path, limited.small_url)) as rt:
        # Committed as a handler's unit of work would (no size check there), big one first.
        await rt["emitter"].committer.commit(ChangeSet(outbox=[big, *smalls]))
        await wait_until(
            lambda: _applied(rt, range(4)), timeout=60, what="a first event applied behind the refused one"
        )
        await wait_until(
            lambda: rt["listener"].consumers[0].stats.processed >= 3, timeout=60, what="the three small events"
        )
        applied = await _applied(rt, range(4))
        letters = await rt["emitter"].store.dead_letters()
        pending = (await rt["emitter"].store.outbox_status()).pending
        parked = rt["emitter"].relay.parked
    assert applied == {"1": 1, "2": 1, "3": 1}
    assert (pending, parked) == (0, 1)
    (letter,) = letters
    assert letter.id is not None
    assert (letter.subscription, letter.message_id, letter.message_type) == (
        "outbox:emitter.events",
        big.message_id,
        big.type,
    )
    assert letter.body == big.body
    assert letter.error.startswith("MessageRefused: ")
    assert f"is {len(big.body)} bytes, over the broker's limit" in letter.error

    await limited.raise_limit()
    async with Runtime(DOMAINS, _settings(tmp_path, limited.large_url)) as rt:
        await rt["emitter"].relay.replay_parked(letter.id)
        await wait_until(
            lambda: rt["listener"].consumers[0].stats.processed >= 1, timeout=60, what="the replayed event"
        )
        applied = await _applied(rt, range(4))
        letters = await rt["emitter"].store.dead_letters()
        stats = rt["listener"].consumers[0].stats
    assert applied == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert letters == []
    assert (stats.processed, stats.dead_lettered) == (1, 0)


async def test_command_over_the_limit_fails_in_its_own_transaction(limited: Limited, tmp_path: Path) -> None:
    """A command whose event would be over the broker's limit raises MessageTooLarge naming the limit, and
    commits nothing: no aggregate, no outbox row; a smaller one right after goes through."""
    async with Runtime(DOMAINS, _settings(tmp_path, limited.configured_url)) as rt:
        limit = rt.broker.max_message_size
        assert limit is not None
        assert limit <= SMALL_LIMIT
        with pytest.raises(MessageTooLarge, match=f"limit of {limit} bytes") as refused:
            await rt["emitter"].execute(note, {"n": 7, "padding": BIG})
        assert refused.value.limit == limit
        assert await rt["emitter"].store.load(Note.aggregate_name(), "7") is None
        assert (await rt["emitter"].store.outbox_status()).pending == 0
        await rt["emitter"].execute(note, {"n": 8, "padding": 10})
        await wait_until(lambda: _applied(rt, range(8, 9)), timeout=60, what="the small command's event")
        assert await rt["emitter"].store.dead_letters() == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # Wide enough that the table of dead letters shows ids and subscriptions unbroken.
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([INTERLINK, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


async def test_parked_message_is_listed_and_replayed_by_the_cli(tmp_path: Path) -> None:
    """``interlink dead-letters list`` shows the refused outbox message with its reason, and ``replay``
    puts it back into the outbox and publishes it once the limit is raised."""
    broker = f"sqlite:///{tmp_path}/broker.db"
    settings = _settings(tmp_path, f"{broker}?max_message_size={SMALL_LIMIT}")
    big = noted_message(0, padding=BIG)
    async with Runtime(DOMAINS, settings) as rt:
        await rt["emitter"].committer.commit(ChangeSet(outbox=[big]))
        await wait_until(lambda: rt["emitter"].relay.parked, timeout=60, what="the big event parked")
    store = settings.store_url
    listed = _cli("dead-letters", "list", "tests.support.refusal_app:emitter", "--store", store)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "outbox:emitter.events" in listed.stdout
    assert big.message_id in listed.stdout
    assert "MessageRefused" in listed.stdout

    replay = ("dead-letters", "replay", "--reason", "fixed", "tests.support.refusal_app:emitter", "--store", store)
    again = _cli(*replay, "1", "--broker", f"{broker}?max_message_size={SMALL_LIMIT}")
    assert again.returncode != 0
    assert "refused again" in again.stderr
    async with open_store(store, "emitter") as emitter_store:
        (letter,) = await emitter_store.dead_letters()  # parked again, under a new id
    assert (letter.id, letter.message_id) == (2, big.message_id)
    done = _cli(*replay, "2", "--broker", broker)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed dead letter 2" in done.stdout
    async with Runtime(DOMAINS, _settings(tmp_path, broker)) as rt:
        await wait_until(lambda: _applied(rt, range(1)), timeout=60, what="the replayed event applied")
        assert await _applied(rt, range(1)) == {"0": 1}
        assert await rt["emitter"].store.dead_letters() == []


async def test_relay_parks_a_refused_message_on_every_store(store_url: str) -> None:
    """On SQLite and PostgreSQL (whose relay publishes inside its claiming transaction) the refusal reaches
    the relay as MessageRefused, not as a store error: the message is parked and the one behind it sent."""
    async with open_store(store_url, "emitter") as store, MemoryBroker(max_message_size=SMALL_LIMIT) as broker:
        await broker.subscribe(Subscription("reader", ("emitter.events",), frozenset({"emitter.Noted"})))
        big, small = noted_message(0, padding=BIG), noted_message(1)
        await store.commit([ChangeSet(outbox=[big, small])])
        relay = Relay(store, broker)
        assert await relay.publish_pending() == 1
        (letter,) = await store.dead_letters()
        got = await broker.fetch("reader", 10, wait=1)
        assert (await store.outbox_status()).pending == 0
    assert (letter.message_id, relay.parked) == (big.message_id, 1)
    assert [d.message_id for d in got] == [small.message_id]
