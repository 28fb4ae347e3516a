"""RabbitMqBroker: the broker contract on a live RabbitMQ, plus confirms, retry queues, URLs and errors."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aio_pika
import aiormq.exceptions as amqp
import pamqp.exceptions
import pytest
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.commands import Channel as ChannelMethods
from pamqp.commands import Connection as ConnectionMethods
from pamqp.header import ContentHeader

from interlink.adapters.brokers.rabbitmq import RabbitMqBroker
from interlink.adapters.brokers.rabbitmq.broker import PRIOR_ATTEMPTS
from interlink.adapters.brokers.rabbitmq.config import RETRY_DELAYS, parse_url, retry_bucket
from interlink.adapters.brokers.rabbitmq.errors import TRANSLATIONS, translate
from interlink.exceptions import BrokerError, BrokerUnavailable, ConfigurationError
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.runtime.backends import open_broker
from interlink.testing.contracts import BrokerContract
from interlink.testing.waiting import wait_until
from tests.support.fetching import fetch_all
from tests.support.private_rabbitmq import PrivateRabbitMq, free_port, rabbitmq_installed
from tests.support.services import require

SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def rabbitmq_url() -> str:
    """The shared RabbitMQ's URL; skips the module when it does not answer (fails under CI=true)."""
    return require("rabbitmq").url


def fresh_url(base: str, **options: object) -> str:
    """``base`` with a namespace no other test uses, plus ``options`` in the query."""
    query = {"namespace": f"t-{uuid.uuid4().hex[:12]}", **options}
    return base + ("&" if "?" in base else "?") + "&".join(f"{k}={v}" for k, v in query.items())


class TidyRabbitMqBroker(RabbitMqBroker):
    """A RabbitMqBroker that remembers what it declared, so a test can remove it from the shared broker.

    Quorum queues are Raft groups: left behind by every test run, they would slow the shared node down.
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.queues: set[str] = set()
        self.exchanges: set[str] = set()

    async def _declare(self, session: Any, subscription: Subscription) -> None:
        self.queues |= {self.settings.queue(subscription.name), self.settings.dead_letter_queue(subscription.name)}
        await super()._declare(session, subscription)

    async def _exchange(self, session: Any, channel: str) -> str:
        self.exchanges.add(name := await super()._exchange(session, channel))
        return name

    async def _retry_exchange(self, session: Any, bucket: float) -> str:
        name = await super()._retry_exchange(session, bucket)
        self.queues.add(name)
        self.exchanges.add(name)
        return name


@pytest.fixture
async def make_broker(rabbitmq_url: str) -> AsyncIterator[Callable[..., TidyRabbitMqBroker]]:
    """Builds unconnected brokers (fresh namespace unless a URL is given); deletes what they declared."""
    made: list[TidyRabbitMqBroker] = []

    def make(url: str | None = None, **options: Any) -> TidyRabbitMqBroker:
        made.append(TidyRabbitMqBroker(url or fresh_url(rabbitmq_url), **options))
        return made[-1]

    yield make
    for broker in made:
        await broker.close()
    async with await aio_pika.connect(rabbitmq_url) as connection:
        channel = await connection.channel()
        for queue in set().union(*(b.queues for b in made)):
            await channel.queue_delete(queue)
        for exchange in set().union(*(b.exchanges for b in made)):
            await channel.exchange_delete(exchange)


class TestRabbitMqBroker(BrokerContract):
    """The broker contract on RabbitMQ, each test in a fresh namespace."""

    dedupes_publishes = False

    @pytest.fixture
    async def broker(self, make_broker: Callable[..., TidyRabbitMqBroker]) -> AsyncIterator[Broker]:
        """A RabbitMQ broker in a fresh namespace with the contract's short visibility timeout."""
        async with make_broker(visibility_timeout=self.visibility_timeout) as broker:
            yield broker


@pytest.fixture
async def broker(make_broker: Callable[..., TidyRabbitMqBroker]) -> AsyncIterator[RabbitMqBroker]:
    """A connected broker in a fresh namespace (visibility timeout 5 s)."""
    async with make_broker(visibility_timeout=5) as broker:
        yield broker


@pytest.fixture
async def observer(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain aio-pika channel, to look at queues from outside the adapter."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        yield await connection.channel()


def _messages(channel: str, count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(uuid.uuid4().hex, channel, "Thing", f"m{i}".encode()) for i in range(count)]


async def _subscribe(broker: Broker, channel: str = "shop.events") -> str:
    name = f"sub-{uuid.uuid4().hex[:8]}"
    await broker.subscribe(Subscription(name, (channel,), frozenset({"Thing"})))
    return name


async def _depth(observer: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await observer.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def test_a_published_batch_is_in_the_queue_when_publish_returns(
    broker: RabbitMqBroker, observer: aio_pika.abc.AbstractChannel
) -> None:
    """Publish returns after the confirms: every message of the batch is already in the durable queue."""
    sub = await _subscribe(broker)
    await broker.publish(_messages("shop.events", 200))
    assert await _depth(observer, broker.settings.queue(sub)) == 200


async def test_messages_are_persistent_cloudevents(
    broker: RabbitMqBroker, observer: aio_pika.abc.AbstractChannel
) -> None:
    """A published message is persistent, with its id, type and the CloudEvents content type."""
    sub = await _subscribe(broker)
    (sent,) = _messages("shop.events", 1)
    await broker.publish([sent])
    queue = await observer.declare_queue(broker.settings.queue(sub), passive=True)
    got = await queue.get(timeout=5)
    assert (got.message_id, got.type, got.content_type, got.body) == (
        sent.message_id,
        "Thing",
        "application/cloudevents+json",
        sent.body,
    )
    assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (got.exchange, got.routing_key) == (broker.settings.exchange("shop.events"), "Thing")
    await got.nack(requeue=True)


async def test_rejected_messages_go_to_the_dead_letter_queue(
    broker: RabbitMqBroker, observer: aio_pika.abc.AbstractChannel
) -> None:
    """Each subscription has a dead-letter queue: a message rejected without requeue is kept there."""
    sub = await _subscribe(broker)
    (sent,) = _messages("shop.events", 1)
    await broker.publish([sent])
    queue = await observer.declare_queue(broker.settings.queue(sub), passive=True)
    got = await queue.get(timeout=5)
    await got.reject(requeue=False)
    dead = await observer.declare_queue(broker.settings.dead_letter_queue(sub), passive=True)
    parked = await wait_until(lambda: dead.get(fail=False), timeout=5, what="the dead-lettered message")
    assert parked.message_id == sent.message_id
    await parked.ack()


async def test_retry_waits_in_the_bucket_queue(broker: RabbitMqBroker, observer: aio_pika.abc.AbstractChannel) -> None:
    """A retry with a delay goes through the shared retry queue of its bucket, then back, attempt 2."""
    sub = await _subscribe(broker)
    await broker.publish(_messages("shop.events", 1))
    (first,) = await broker.fetch(sub, 1, wait=5)
    await broker.retry(first, 0.7)  # rounded up to the 1 s bucket
    bucket = broker.settings.retry_queue(1.0)
    assert await _depth(observer, bucket) == 1
    started = time.monotonic()
    (second,) = await broker.fetch(sub, 1, wait=5)
    assert time.monotonic() - started > 0.5
    assert (second.message_id, second.attempt, second.body) == (first.message_id, 2, first.body)
    assert await _depth(observer, bucket) == 0
    await broker.ack([second])


async def test_retried_copy_carries_its_prior_attempts(
    broker: RabbitMqBroker, observer: aio_pika.abc.AbstractChannel
) -> None:
    """The retried copy is a new message in the queue; its header says how many deliveries came before."""
    sub = await _subscribe(broker)
    await broker.publish(_messages("shop.events", 1))
    (first,) = await broker.fetch(sub, 1, wait=5)
    await broker.retry(first, 0)
    await broker.close()  # hands the (re)buffered copy back to the queue
    queue = await observer.declare_queue(broker.settings.queue(sub), passive=True)
    copy = await queue.get(timeout=5)
    assert copy.headers[PRIOR_ATTEMPTS] == 1
    assert copy.message_id == first.message_id
    await copy.ack()


@pytest.mark.parametrize(
    ("delay", "bucket"),
    [(0.0, 0.1), (0.05, 0.1), (0.1, 0.1), (0.11, 0.5), (3, 5), (60, 60), (61, 300), (10_000, 900)],
)
def test_retry_delays_round_up_to_a_bucket(delay: float, bucket: float) -> None:
    """A delay is rounded up to the next bucket (never shorter), capped by the longest one."""
    assert retry_bucket(delay) == bucket
    assert bucket in RETRY_DELAYS


async def test_reopened_broker_gets_unacked_messages_again(make_broker: Callable[..., TidyRabbitMqBroker]) -> None:
    """Closing with deliveries in hand gives them back: a new broker on the namespace fetches them."""
    first = make_broker()
    async with first:
        sub = await _subscribe(first)
        sent = _messages("shop.events", 3)
        await first.publish(sent)
        assert len(await first.fetch(sub, 3, wait=5)) == 3
    async with make_broker(first.url) as second:
        got = await second.fetch(sub, 3, wait=5)
        assert sorted(d.message_id for d in got) == sorted(m.message_id for m in sent)
        assert {d.attempt for d in got} == {2}
        await second.ack(got)


async def test_close_ends_a_waiting_fetch(make_broker: Callable[..., TidyRabbitMqBroker]) -> None:
    """Closing the broker ends a waiting fetch at once with nothing, not with an error."""
    broker = make_broker()
    await broker.connect()
    sub = await _subscribe(broker)
    waiting = asyncio.create_task(broker.fetch(sub, 10, wait=10))
    await asyncio.sleep(0.2)  # let the fetch start waiting
    await broker.close()
    assert await asyncio.wait_for(waiting, 2) == []


# -- URL, TLS and redaction ------------------------------------------------------------------------------


def test_url_forms_and_options() -> None:
    """Host, port, vhost, credentials and options come from the URL; keyword arguments override them."""
    s = parse_url("amqp://bob:p%40ss@mq.example:5673/prod?namespace=n1&prefetch=50&visibility_timeout=5")
    assert (s.host, s.port, s.username, s.password, s.vhost, s.tls) == (
        "mq.example", 5673, "bob", "p@ss", "prod", False,
    )  # fmt: skip
    assert (s.namespace, s.prefetch, s.visibility_timeout) == ("n1", 50, 5)
    assert s.queue("billing") == "n1.billing"
    assert s.exchange("shop.events") == "n1.shop.events"
    defaults = parse_url("amqp://localhost")
    assert (defaults.port, defaults.vhost, defaults.username, defaults.namespace) == (
        5672, "/", "guest", "interlink",
    )  # fmt: skip
    assert parse_url("amqps://h/%2F").port == 5671
    assert parse_url("amqps://h/%2F").vhost == "/"
    assert RabbitMqBroker("amqp://h?visibility_timeout=5", visibility_timeout=2).visibility_timeout == 2
    assert isinstance(open_broker("amqps://h/"), RabbitMqBroker)


@pytest.mark.parametrize(
    "url",
    [
        "nats://h",
        "amqp://",
        "amqp://h?colour=blue",
        "amqp://h?visibility_timeout=soon",
        "amqp://h?visibility_timeout=-1",
        "amqp://h?prefetch=0",
        "amqp://h?namespace=a%20b",
        "amqp://h?ca_file=/ca.pem",
        "amqps://h?verify=maybe",
        "amqp://h:notaport",
    ],
    ids=["scheme", "no-host", "unknown", "nan", "negative", "prefetch", "namespace", "tls-on-amqp",
         "verify", "port"],
)  # fmt: skip
def test_bad_url_is_refused(url: str) -> None:
    """A URL that is not a valid RabbitMQ broker URL raises ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RabbitMqBroker(url)


def test_tls_options_build_the_context(tmp_path: object) -> None:
    """amqps:// verifies certificates by default; verify=false turns checks off; bad files are named."""
    strict = parse_url("amqps://h/").ssl_context()
    assert strict is not None
    assert strict.verify_mode == ssl.CERT_REQUIRED
    assert strict.check_hostname
    lax = parse_url("amqps://h/?verify=false").ssl_context()
    assert lax is not None
    assert lax.verify_mode == ssl.CERT_NONE
    assert not lax.check_hostname
    assert parse_url("amqp://h/").ssl_context() is None
    with pytest.raises(ConfigurationError, match="TLS files"):
        parse_url("amqps://h/?ca_file=/nonexistent/ca.pem").ssl_context()


def test_password_never_shown() -> None:
    """The password is in no repr, str or settings text; the address shows host, port and vhost."""
    broker = RabbitMqBroker(f"amqp://bob:{SECRET}@mq.example:5673/prod")
    for text in (repr(broker), str(broker), repr(broker.settings), broker.settings.address):
        assert SECRET not in text
    assert "***" in repr(broker)
    assert broker.settings.address == "amqp://mq.example:5673/prod"
    with pytest.raises(ConfigurationError) as refused:
        RabbitMqBroker(f"amqp://bob:{SECRET}@h?colour=blue")
    assert SECRET not in str(refused.value)


async def test_wrong_password_is_a_broker_error_without_the_password(rabbitmq_url: str) -> None:
    """Refused credentials raise BrokerError naming the address, not the password."""
    url = rabbitmq_url.replace("guest:guest@", f"guest:{SECRET}@")
    broker = RabbitMqBroker(url, visibility_timeout=1)
    with pytest.raises(BrokerError) as refused:
        await broker.connect()
    assert SECRET not in str(refused.value)
    assert SECRET not in repr(refused.value.__cause__)
    assert "127.0.0.1" in str(refused.value)


async def test_nobody_listening_is_broker_unavailable() -> None:
    """A broker that does not answer raises BrokerUnavailable: the caller may try again later."""
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1"):
        await RabbitMqBroker(f"amqp://guest:{SECRET}@127.0.0.1:{free_port()}/").connect()


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitMq]:
    """A private RabbitMQ node on TLS that requires a client certificate of its own throwaway CA."""
    if not (rabbitmq_installed() and shutil.which("openssl")):
        message = "rabbitmq-server or openssl is not installed: cannot start a private TLS node"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    node = PrivateRabbitMq(tmp_path_factory.mktemp("rabbitmq-tls"), tls=True)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def _tls_url(node: PrivateRabbitMq, **options: object) -> str:
    return fresh_url(f"amqps://guest:{SECRET}@127.0.0.1:{node.tls_port}/", **options).replace(SECRET, "guest")


@pytest.mark.slow
async def test_tls_with_a_client_certificate(tls_node: PrivateRabbitMq) -> None:
    """amqps:// with the CA and a client certificate verifies the server and carries messages."""
    files = tls_node.tls
    assert files is not None
    url = _tls_url(tls_node, ca_file=files.ca, cert_file=files.client_cert, key_file=files.client_key)
    async with RabbitMqBroker(url) as broker:
        await broker.ping()
        sub = await _subscribe(broker)
        sent = _messages("shop.events", 3)
        await broker.publish(sent)
        got = await fetch_all(broker, sub, 3)
        assert [d.message_id for d in got] == [m.message_id for m in sent]
        await broker.ack(got)
    # verify=false skips the server check (no CA given), the client certificate is still sent.
    lax = _tls_url(tls_node, verify="false", cert_file=files.client_cert, key_file=files.client_key)
    async with RabbitMqBroker(lax) as broker:
        await broker.ping()


@pytest.mark.slow
async def test_tls_refuses_a_server_it_cannot_verify(tls_node: PrivateRabbitMq) -> None:
    """Certificate checks are on by default: a server signed by an unknown CA is a BrokerError."""
    files = tls_node.tls
    assert files is not None
    url = _tls_url(tls_node, cert_file=files.client_cert, key_file=files.client_key)
    with pytest.raises(BrokerError, match="SSLCertVerificationError") as refused:
        await RabbitMqBroker(url).connect()
    assert type(refused.value) is BrokerError


@pytest.mark.slow
async def test_tls_without_the_client_certificate_is_refused(tls_node: PrivateRabbitMq) -> None:
    """A server that requires a client certificate refuses a connection without one."""
    files = tls_node.tls
    assert files is not None
    with pytest.raises(BrokerError):
        await RabbitMqBroker(_tls_url(tls_node, ca_file=files.ca)).connect()


# -- the error table ------------------------------------------------------------------------------------


def _closed(kind: type[Exception], code: int, text: str) -> Exception:
    method = ChannelMethods.Close if issubclass(kind, amqp.AMQPChannelError) else ConnectionMethods.Close
    return kind(method(reply_code=code, reply_text=text))


def _wrapped(cause: OSError) -> Exception:
    """What aiormq raises for a socket or TLS error: AMQPConnectionError from the original."""
    try:
        raise amqp.AMQPConnectionError(*cause.args) from cause
    except amqp.AMQPConnectionError as exc:
        return exc


def _returned() -> DeliveredMessage:
    return DeliveredMessage(Basic.Return(reply_code=312), ContentHeader(), b"", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (amqp.ChannelInvalidStateError("closed"), BrokerUnavailable),
        (_closed(amqp.ChannelAccessRefused, 403, "ACCESS_REFUSED"), BrokerError),
        (_closed(amqp.ChannelNotFoundEntity, 404, "NOT_FOUND"), BrokerError),
        (_closed(amqp.ChannelPreconditionFailed, 406, "PRECONDITION_FAILED"), BrokerError),
        (_closed(amqp.ChannelLockedResource, 405, "RESOURCE_LOCKED"), BrokerUnavailable),
        (_closed(amqp.ChannelClosed, 504, "CHANNEL_ERROR"), BrokerUnavailable),
        (amqp.AuthenticationError("PLAIN"), BrokerError),
        (amqp.ProbableAuthenticationError("closed at login"), BrokerError),
        (amqp.IncompatibleProtocolError("0-8"), BrokerError),
        (_closed(amqp.ConnectionNotAllowed, 530, "NOT_ALLOWED"), BrokerError),
        (_closed(amqp.ConnectionFrameError, 501, "FRAME_ERROR"), BrokerError),
        (_closed(amqp.ConnectionResourceError, 506, "RESOURCE_ERROR"), BrokerUnavailable),
        (_closed(amqp.ConnectionInternalError, 541, "INTERNAL_ERROR"), BrokerUnavailable),
        (_closed(amqp.ConnectionClosed, 320, "CONNECTION_FORCED"), BrokerUnavailable),
        (amqp.AMQPConnectionError("reset"), BrokerUnavailable),
        (amqp.DeliveryError(None, Basic.Nack(delivery_tag=1)), BrokerUnavailable),
        (amqp.PublishError(_returned(), Basic.Return(reply_code=312)), BrokerError),
        (amqp.MethodNotImplemented(), BrokerError),
        (amqp.InvalidFrameError("bad frame"), BrokerError),
        (pamqp.exceptions.UnmarshalingException("Connection", b"x"), BrokerError),
        (ssl.SSLCertVerificationError("self-signed"), BrokerError),
        (_wrapped(ssl.SSLCertVerificationError("self-signed")), BrokerError),
        (_wrapped(ConnectionRefusedError(111, "refused")), BrokerUnavailable),
        (TimeoutError(), BrokerUnavailable),
        (ConnectionRefusedError(111, "refused"), BrokerUnavailable),
        (OSError("network unreachable"), BrokerUnavailable),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_driver_error_table(exc: Exception, expected: type[BrokerError]) -> None:
    """Each driver exception maps to BrokerUnavailable (try later) or BrokerError (will not heal)."""
    settings = parse_url(f"amqp://u:{SECRET}@mq.example/")
    translated = translate(exc, settings)
    assert type(translated) is expected
    assert "amqp://mq.example:5672/" in str(translated)
    assert type(exc.__cause__ or exc).__name__ in str(translated)


def test_error_table_scrubs_the_password_and_ignores_other_errors() -> None:
    """A driver message containing the password is scrubbed; non-driver errors are not translated."""
    settings = parse_url(f"amqp://u:{SECRET}@h/")
    translated = translate(amqp.AMQPConnectionError(f"amqp://u:{SECRET}@h failed"), settings)
    assert translated is not None
    assert SECRET not in str(translated)
    assert translate(ValueError("not ours"), settings) is None
    assert all(issubclass(kind, BaseException) for kind, _ in TRANSLATIONS)
