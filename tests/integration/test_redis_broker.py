"""RedisBroker: the broker contract, plus dedupe, takeover, retries, filtering, URLs and its error table."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis import exceptions as rx
from redis.asyncio import Redis

from interlink.adapters.brokers.redis import RedisBroker
from interlink.adapters.brokers.redis.config import RedisSettings, parse_url, redact
from interlink.adapters.brokers.redis.errors import TRANSLATIONS, translate
from interlink.exceptions import BrokerError, BrokerUnavailable, ConfigurationError
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.testing.contracts import BrokerContract
from tests.support.fetching import fetch_all
from tests.support.private_redis import TlsFiles, free_port, private_redis
from tests.support.services import fresh_name

SECRET = "s3cr3t-Pa55"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client on the same server, to look at (or break) what the broker wrote."""
    async with Redis.from_url(redis_url) as client:
        yield client


def _url(redis_url: str, namespace: str, **options: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"namespace": namespace, **options}.items())
    return f"{redis_url}?{query}"


class TestRedisBroker(BrokerContract):
    """The broker contract on the shared Redis server, in a fresh namespace per test."""

    @pytest.fixture
    async def broker(self, redis_url: str, namespace: str) -> AsyncIterator[Broker]:
        """A connected Redis broker with the contract's short visibility timeout."""
        async with RedisBroker(_url(redis_url, namespace), visibility_timeout=self.visibility_timeout) as broker:
            yield broker


def _message(channel: str, type: str = "Thing", message_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(message_id or uuid.uuid4().hex, channel, type, f"body of {type}".encode())


async def _declare(broker: Broker, channels: tuple[str, ...] = ("c",), types: tuple[str, ...] = ("Thing",)) -> str:
    name = fresh_name("sub")
    await broker.subscribe(Subscription(name, channels, frozenset(types)))
    return name


async def test_duplicate_id_in_later_publish_is_dropped_until_the_window_ends(redis_url: str, namespace: str) -> None:
    """A re-sent id is dropped across publish calls within the dedupe window, and accepted after it."""
    async with RedisBroker(_url(redis_url, namespace), dedupe_window=0.3) as broker:
        sub = await _declare(broker)
        first = _message("c")
        await broker.publish([first])
        await broker.publish([first, _message("c", message_id=first.message_id)])
        got = await fetch_all(broker, sub, 1)
        await broker.ack(got)
        assert await broker.fetch(sub, 10, wait=0.1) == []
        await asyncio.sleep(0.4)  # the window is a duration on the server's clock: nothing to poll for
        await broker.publish([first])
        again = await fetch_all(broker, sub, 1)
    assert [d.message_id for d in got + again] == [first.message_id] * 2


async def test_entries_left_by_a_closed_consumer_are_taken_over(redis_url: str, namespace: str) -> None:
    """Entries fetched by a broker that closed without acking go to another instance after the timeout."""
    url = _url(redis_url, namespace, visibility_timeout=0.5)
    async with RedisBroker(url) as first:
        sub = await _declare(first)
        sent = [_message("c") for _ in range(3)]
        await first.publish(sent)
        taken = await fetch_all(first, sub, 3)
        assert {d.attempt for d in taken} == {1}
    async with RedisBroker(url) as second:
        assert first.consumer != second.consumer
        assert await second.fetch(sub, 10, wait=0.1) == []  # still invisible
        got = await fetch_all(second, sub, 3)
        await second.ack(got)
    assert [(d.message_id, d.attempt) for d in got] == [(m.message_id, 2) for m in sent]


async def test_retry_waits_in_the_delayed_set_and_is_not_taken_over(redis_url: str, namespace: str, raw: Redis) -> None:
    """A retry longer than the visibility timeout waits its whole delay, then comes back with attempt 2."""
    async with RedisBroker(_url(redis_url, namespace), visibility_timeout=0.2) as broker:
        sub = await _declare(broker)
        await broker.publish([_message("c")])
        (first,) = await fetch_all(broker, sub, 1)
        started = asyncio.get_running_loop().time()
        await broker.retry(first, 1.0)
        delayed = await raw.zrange(f"{namespace}:sub:{sub}:delayed", 0, -1)
        assert delayed == [first.handle[1] + b" " + first.handle[0].encode()]
        # Several visibility timeouts pass while it waits: no takeover hands it out early.
        assert await broker.fetch(sub, 10, wait=0.7) == []
        (second,) = await fetch_all(broker, sub, 1)
        assert asyncio.get_running_loop().time() - started >= 0.9
        await broker.ack([second])
        assert await raw.zcard(f"{namespace}:sub:{sub}:delayed") == 0
    assert (second.message_id, second.attempt) == (first.message_id, 2)


async def test_foreign_types_are_acked_inside_the_fetch(redis_url: str, namespace: str, raw: Redis) -> None:
    """Entries of types a subscription does not take are acked by the adapter, never handed out."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        sub = await _declare(broker, types=("Wanted",))
        wanted = _message("c", "Wanted")
        await broker.publish([_message("c", "Other") for _ in range(25)] + [wanted])
        got = await broker.fetch(sub, 10, wait=5)
        assert [d.message_id for d in got] == [wanted.message_id]
        pending = await raw.xpending(f"{namespace}:stream:c", sub)
        assert pending["pending"] == 1  # only the delivery in hand


async def test_unreadable_entries_are_delivered_marked_defective(redis_url: str, namespace: str, raw: Redis) -> None:
    """A stream entry without the broker's fields is handed out with its raw fields and the reason, for the
    consumer to park; it blocks nothing after it, and nothing goes to a Redis-only dead stream."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        sub = await _declare(broker)
        stream = f"{namespace}:stream:c"
        bad_id = await raw.xadd(stream, {"hello": "world"})
        good = _message("c")
        await broker.publish([good])
        got = await fetch_all(broker, sub, 2)
        await broker.ack(got)
        assert not await raw.exists(f"{namespace}:sub:{sub}:dead")
    bad, fine = got
    assert bad.message_id == f"{stream}:{cast(bytes, bad_id).decode()}"
    assert bad.defect is not None
    assert "lacks message_id, type or body" in bad.defect
    assert json.loads(bad.body) == {"hello": "world"}
    assert (fine.message_id, fine.defect) == (good.message_id, None)


async def test_fetch_spanning_streams_respects_the_count(redis_url: str, namespace: str) -> None:
    """A subscription on two channels gets at most the count asked for, from both streams in turn."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        sub = await _declare(broker, channels=("a", "b"))
        await broker.publish([_message(c) for c in "ab" for _ in range(4)])
        batches = [await broker.fetch(sub, 3, wait=5) for _ in range(3)]
        assert [len(b) for b in batches] == [3, 3, 2]
        assert {d.handle[0] for b in batches[:2] for d in b} == {f"{namespace}:stream:{c}" for c in "ab"}


async def test_lost_server_state_is_restored_by_the_declaring_process(
    redis_url: str, namespace: str, raw: Redis
) -> None:
    """After the server lost every key (a restart without persistence), fetch redeclares and delivers."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        sub = await _declare(broker)
        await broker.fetch(sub, 1, wait=0)
        await raw.unlink(*[key async for key in raw.scan_iter(match=f"{namespace}:*")])
        late = _message("c")
        await broker.publish([late])  # published before the group exists again: recreated at 0, not $
        got = await fetch_all(broker, sub, 1)
    assert [d.message_id for d in got] == [late.message_id]
    async with RedisBroker(_url(redis_url, namespace)) as stranger:
        await raw.unlink(f"{namespace}:sub:{sub}:types")
        with pytest.raises(BrokerError, match=sub):
            await stranger.fetch(sub, 1, wait=0)


async def test_lost_consumer_group_is_recreated_from_the_start_of_the_stream(
    redis_url: str, namespace: str, raw: Redis
) -> None:
    """A group destroyed on the server is recreated at 0 by the next fetch: entries added meanwhile arrive."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        sub = await _declare(broker)
        await broker.publish([_message("c")])
        (in_hand,) = await fetch_all(broker, sub, 1)
        await raw.xgroup_destroy(f"{namespace}:stream:c", sub)
        await broker.ack([in_hand])  # its group is gone: nothing to ack, and no error
        await broker.retry(in_hand, 0)
        late = _message("c")
        await broker.publish([late])
        got = await fetch_all(broker, sub, 2)
    # Recreated at 0, the group gets the whole stream again: the consumer's inbox drops the first one.
    assert [d.message_id for d in got] == [in_hand.message_id, late.message_id]
    assert {d.attempt for d in got} == {1}


async def test_streams_are_trimmed_of_what_every_group_acked(redis_url: str, namespace: str, raw: Redis) -> None:
    """Housekeeping drops entries every subscription is done with and keeps those still pending."""
    async with RedisBroker(_url(redis_url, namespace)) as broker:
        broker.housekeeping_interval = 0
        first, second = await _declare(broker), await _declare(broker)
        await broker.publish([_message("c") for _ in range(5)])
        await broker.ack(await fetch_all(broker, first, 5))
        assert await raw.xlen(f"{namespace}:stream:c") == 5  # the second subscription has read nothing
        in_hand = await fetch_all(broker, second, 5)
        await broker.ack(in_hand[:3])
        assert await raw.xlen(f"{namespace}:stream:c") == 2
        await broker.ack(in_hand[3:])
        await broker.publish([])
        await broker.ack(in_hand[3:])
        assert await raw.xlen(f"{namespace}:stream:c") <= 1


async def test_close_forgets_idle_consumers_and_keeps_busy_ones(redis_url: str, namespace: str, raw: Redis) -> None:
    """A closing broker removes its consumer from groups where it holds nothing, and only there."""
    url = _url(redis_url, namespace)
    async with RedisBroker(url) as broker:
        idle, busy = await _declare(broker, ("i",)), await _declare(broker, ("b",))
        await broker.publish([_message("b")])
        assert await broker.fetch(idle, 1, wait=0) == []
        assert len(await fetch_all(broker, busy, 1)) == 1
    assert await raw.xinfo_consumers(f"{namespace}:stream:i", idle) == []
    (consumer,) = await raw.xinfo_consumers(f"{namespace}:stream:b", busy)
    assert consumer["name"] == broker.consumer.encode()


async def test_close_ends_a_waiting_fetch_with_nothing(redis_url: str, namespace: str) -> None:
    """A fetch waiting when the broker closes returns an empty list instead of an error."""
    broker = RedisBroker(_url(redis_url, namespace))
    await broker.connect()
    sub = await _declare(broker)
    waiting = asyncio.create_task(broker.fetch(sub, 1, wait=10))
    await asyncio.sleep(0.2)
    await broker.close()
    assert await asyncio.wait_for(waiting, 5) == []


def test_url_forms_and_options() -> None:
    """Host, port, db, credentials and options come from the URL; keyword arguments win over the query."""
    settings = parse_url(f"redis://app:{SECRET}@cache.local:6380/3?namespace=bank&visibility_timeout=5&dedupe_window=9")
    assert (settings.host, settings.port, settings.db, settings.username, settings.password) == (
        "cache.local", 6380, 3, "app", SECRET,
    )  # fmt: skip
    assert (settings.namespace, settings.visibility_timeout, settings.dedupe_window) == ("bank", 5, 9)
    assert not settings.tls
    defaults = parse_url("redis://")
    assert (defaults.host, defaults.port, defaults.db, defaults.namespace, defaults.visibility_timeout) == (
        "localhost", 6379, 0, "interlink", 30,
    )  # fmt: skip
    broker = RedisBroker("redis://h/0?visibility_timeout=5", visibility_timeout=2, namespace="n")
    assert (broker.visibility_timeout, broker.settings.namespace) == (2, "n")
    assert parse_url("redis://:p%40ss@h").password == "p@ss"


def test_tls_options_reach_every_connection() -> None:
    """rediss:// turns TLS on for the client, with the CA, client certificate and verification chosen."""
    settings = parse_url("rediss://h:6390/0?ca_file=/ca.pem&cert_file=/c.pem&key_file=/k.pem&verify=ca")
    options = settings.client_options()
    assert options["ssl"] is True
    assert (options["ssl_ca_certs"], options["ssl_certfile"], options["ssl_keyfile"]) == ("/ca.pem", "/c.pem", "/k.pem")
    assert (options["ssl_cert_reqs"], options["ssl_check_hostname"]) == ("required", False)
    full = parse_url("rediss://h").client_options()
    assert (full["ssl_cert_reqs"], full["ssl_check_hostname"]) == ("required", True)
    assert parse_url("rediss://h?verify=none").client_options()["ssl_cert_reqs"] == "none"
    assert "ssl" not in parse_url("redis://h").client_options()


@pytest.mark.parametrize(
    "url",
    [
        "memory://", "redis://h/x", "redis://h:port/0", "redis://h/0?colour=red", "redis://h?visibility_timeout=a",
        "redis://h?dedupe_window=0", "redis://h?ca_file=/ca.pem", "rediss://h?verify=maybe", "redis://h?namespace=",
    ],
    ids=[
        "scheme", "db", "port", "unknown-option", "not-a-number", "not-positive", "tls-on-plain", "verify",
        "namespace",
    ],
)  # fmt: skip
def test_bad_url_is_refused_without_showing_the_password(url: str) -> None:
    """A wrong URL raises ConfigurationError naming the problem, never the password."""
    with_secret = url.replace("://", f"://user:{SECRET}@", 1) if url.startswith("redis") else url
    with pytest.raises(ConfigurationError) as caught:
        RedisBroker(with_secret)
    assert SECRET not in str(caught.value)


def test_password_stays_out_of_repr_and_redacted_urls() -> None:
    """Neither the broker's repr, its settings' repr nor the redacted URL show the password."""
    url = f"redis://app:{SECRET}@h:6379/0?namespace=n"
    broker = RedisBroker(url)
    assert SECRET not in repr(broker)
    assert SECRET not in repr(broker.settings)
    assert redact(url) == "redis://app:***@h:6379/0?namespace=n"
    assert redact(f"rediss://:{SECRET}@h") == "rediss://:***@h"
    assert redact("redis://h:6379") == "redis://h:6379"


_SETTINGS = RedisSettings(host="h", port=1, password=SECRET)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (rx.AuthenticationError(f"WRONGPASS for {SECRET}"), BrokerError),
        (rx.AuthorizationError("no"), BrokerError),
        (rx.NoPermissionError("NOPERM this user has no permissions"), BrokerError),
        (rx.BusyLoadingError("Redis is loading the dataset in memory"), BrokerUnavailable),
        (rx.ConnectionError("Error 111 connecting to h:1. Connection refused."), BrokerUnavailable),
        (rx.TimeoutError("Timeout reading from h:1"), BrokerUnavailable),
        (rx.ReadOnlyError("You can't write against a read only replica."), BrokerUnavailable),
        (rx.TryAgainError("Multiple keys request during rehashing of slot"), BrokerUnavailable),
        (rx.MasterDownError("Link with MASTER is down"), BrokerUnavailable),
        (rx.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), BrokerUnavailable),
        (rx.ResponseError("BUSY Redis is busy running a script."), BrokerUnavailable),
        (rx.ResponseError("MISCONF Redis is configured to save RDB snapshots"), BrokerUnavailable),
        (rx.ResponseError("NOREPLICAS Not enough good replicas to write."), BrokerUnavailable),
        (rx.ResponseError("BUSYGROUP Consumer Group name already exists"), BrokerError),
        (rx.ResponseError("NOGROUP No such key or consumer group"), BrokerError),
        (rx.DataError("Invalid input of type: 'dict'"), BrokerError),
        (rx.RedisError("something else"), BrokerError),
        (OSError(113, "No route to host"), BrokerUnavailable),
        (ValueError("not a driver error"), BrokerError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_error_translation_table(error: BaseException, expected: type[BrokerError]) -> None:
    """Each driver error becomes the pinned Interlink error, naming the server and never the password."""
    translated = translate(error, _SETTINGS)
    assert type(translated) is expected
    assert "h:1/0" in str(translated)
    assert SECRET not in str(translated)


def test_translation_table_lists_subclasses_before_their_bases() -> None:
    """No row is shadowed by an earlier, broader row with the same error code."""
    for i, (later, code, _, _) in enumerate(TRANSLATIONS):
        for earlier, earlier_code, _, _ in TRANSLATIONS[:i]:
            assert not (issubclass(later, earlier) and earlier_code in ("", code)), (later, earlier)


async def test_unreachable_server_raises_broker_unavailable_without_the_password() -> None:
    """connect() to a port nobody listens on raises BrokerUnavailable naming host:port, not the password."""
    port = free_port()
    broker = RedisBroker(f"redis://app:{SECRET}@127.0.0.1:{port}/0?connect_timeout=1")
    with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}/0") as caught:
        await broker.connect()
    assert SECRET not in str(caught.value)
    with pytest.raises(BrokerError, match="connect"):
        await broker.ping()


async def test_wrong_password_is_a_broker_error_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server refusing the credentials gives BrokerError without the password; no log line shows it."""
    caplog.set_level(logging.DEBUG)
    with private_redis(tmp_path, password="right-one") as server:
        wrong = server.url.replace("right-one", SECRET)
        with pytest.raises(BrokerError) as caught:
            await RedisBroker(wrong).connect()
        assert not isinstance(caught.value, BrokerUnavailable)
        assert SECRET not in str(caught.value)
        async with RedisBroker(server.url) as broker:
            await broker.ping()
    assert SECRET not in caplog.text


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 it signed, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed, so no TLS certificates can be made")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=interlink test CA",
    )
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return TlsFiles(cert=folder / "server.pem", key=folder / "server.key", ca=folder / "ca.pem")


async def test_round_trip_over_tls(tmp_path: Path, tls_files: TlsFiles) -> None:
    """Over rediss:// with the CA file every connection is TLS: publish, a blocking fetch and ack all work."""
    with private_redis(tmp_path, tls=tls_files) as server:
        url = f"{server.url}?ca_file={tls_files.ca}&namespace=tls"
        async with RedisBroker(url) as broker:
            sub = await _declare(broker)
            waiting = asyncio.create_task(broker.fetch(sub, 1, wait=10))  # holds a second connection
            await asyncio.sleep(0.1)
            sent = _message("c")
            await broker.publish([sent])
            got = await asyncio.wait_for(waiting, 10)
            await broker.ack(got)
        assert [d.message_id for d in got] == [sent.message_id]
        untrusted = RedisBroker(f"{server.url}?connect_timeout=2")  # no CA file: the certificate is unknown
        with pytest.raises(BrokerUnavailable):
            await untrusted.connect()
