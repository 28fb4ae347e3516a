"""NatsBroker: the broker contract on a real NATS JetStream, plus dedupe, NAK delays, history, URLs, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats import errors as nats_errors
from nats.aio.msg import Msg
from nats.js import errors as js_errors

from interlink.adapters.brokers.nats import NatsBroker
from interlink.adapters.brokers.nats.config import (
    NatsSettings,
    consumer_config,
    history_config,
    parse_url,
    redact,
    ssl_context,
    token,
)
from interlink.adapters.brokers.nats.errors import translate
from interlink.exceptions import BrokerError, BrokerUnavailable, ConfigurationError
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.testing.contracts import BrokerContract
from tests.support.private_nats import PrivateNats
from tests.support.services import fresh_name, require


@pytest.fixture(scope="module")
def nats_url() -> str:
    """The loopback NATS server's URL; skips the module when it does not answer (fails under CI=true)."""
    return require("nats").url


async def purge(url: str, namespace: str) -> None:
    """Delete every stream of ``namespace``, so the shared server does not fill up with test streams."""
    nc = await nats.connect(url)
    try:
        query = json.dumps({"subject": f"{namespace}.>"}).encode()
        names = json.loads((await nc.request("$JS.API.STREAM.NAMES", query, timeout=5)).data).get("streams")
        js = nc.jetstream()
        for name in names or []:
            await js.delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture
async def fresh_url(nats_url: str) -> AsyncIterator[str]:
    """The server's URL with a namespace of its own, whose streams are deleted afterwards."""
    namespace = fresh_name("it")
    yield f"{nats_url}?namespace={namespace}"
    await purge(nats_url, namespace)


class TestNatsBroker(BrokerContract):
    """The broker contract on NATS JetStream, in a fresh namespace per test."""

    @pytest.fixture
    async def broker(self, fresh_url: str) -> AsyncIterator[Broker]:
        """A connected NatsBroker with the contract's short visibility timeout."""
        async with NatsBroker(fresh_url, visibility_timeout=self.visibility_timeout) as broker:
            yield broker


def _message(channel: str, type: str = "Thing", message_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(message_id or uuid.uuid4().hex, channel, type, f"body of {type}".encode())


async def _drain(broker: Broker, subscription: str, expected: int, wait: float = 0.5) -> list[str]:
    """Message ids fetched (and acked) until ``expected`` came or a fetch came back empty."""
    ids: list[str] = []
    while len(ids) < expected:
        got = await broker.fetch(subscription, 100, wait=wait)
        if not got:
            break
        await broker.ack(got)
        ids += [d.message_id for d in got]
    return ids


async def test_same_message_id_in_two_publishes_is_stored_once(fresh_url: str) -> None:
    """JetStream keeps one copy of a message id re-sent in a later publish (Nats-Msg-Id), not two."""
    async with NatsBroker(fresh_url) as broker:
        message = _message("ledger.events")
        await broker.publish([message])
        await broker.publish([message, _message("ledger.events")])
        _, js = broker._client()
        state = (await js.stream_info(broker.settings.stream("ledger.events"))).state
    assert (state.messages, state.last_seq) == (2, 2)


async def test_retry_naks_with_its_delay_not_the_visibility_timeout(fresh_url: str) -> None:
    """retry(delay) brings a message back after about its delay, long before a 30 s visibility timeout."""
    async with NatsBroker(fresh_url, visibility_timeout=30) as broker:
        await broker.subscribe(Subscription("ledger", ("ledger.events",), frozenset({"Thing"})))
        await broker.publish([_message("ledger.events")])
        (first,) = await broker.fetch("ledger", 10, wait=5)
        started = time.monotonic()
        await broker.retry(first, 0.5)
        assert await broker.fetch("ledger", 10, wait=0.2) == []
        (second,) = await broker.fetch("ledger", 10, wait=5)
        waited = time.monotonic() - started
        await broker.ack([second])
    assert (second.message_id, second.attempt) == (first.message_id, 2)
    assert 0.4 <= waited < 5


async def test_history_replays_retained_messages_in_order(fresh_url: str) -> None:
    """history() yields a channel's messages from the first, once each, after they were acked, by type too."""
    channel = "customer.events"
    sent = [_message(channel, type) for type in ("Registered", "Moved", "Registered", "Moved")]
    async with NatsBroker(fresh_url) as broker:
        await broker.subscribe(Subscription("replica", (channel,), frozenset({"Registered", "Moved"})))
        await broker.publish([*sent[:3], _message("customer.commands", "Register")])
        await broker.publish([sent[2], sent[3]])  # a re-send: deduped, so not in the history twice
        assert len(await _drain(broker, "replica", 4)) == 4  # acked: the history keeps them all the same
        everything = [body async for body in broker.history(channel)]
        registered = [body async for body in broker.history(channel, {"Registered"})]
        assert [body async for body in broker.history("customer.nothing")] == []
    assert everything == [m.body for m in sent]
    assert registered == [sent[0].body, sent[2].body]


async def test_history_stopped_early_leaves_no_reader(fresh_url: str) -> None:
    """Leaving a history read half-way (in aclosing) deletes its ephemeral consumer at once."""
    async with NatsBroker(fresh_url) as broker:
        await broker.publish([_message("customer.events") for _ in range(3)])
        async with contextlib.aclosing(broker.history("customer.events")) as bodies:
            async for _ in bodies:
                break
        _, js = broker._client()
        info = await js.stream_info(broker.settings.stream("customer.events"))
    assert info.state.consumer_count == 0


async def test_another_client_finds_a_subscription_declared_elsewhere(fresh_url: str) -> None:
    """A process that never declared a subscription fetches from it: the server knows its consumers."""
    channels = ("customer.events", "loan-request.events")
    async with NatsBroker(fresh_url) as declaring, NatsBroker(fresh_url) as other:
        await declaring.subscribe(Subscription("ledger", channels, frozenset({"Thing"})))
        sent = [_message(channel) for channel in channels for _ in range(2)]
        await declaring.publish(sent)
        got = await _drain(other, "ledger", 4)
    # One consumer per channel, each in its producing domain's stream, fetched in turn.
    assert sorted(got) == sorted(m.message_id for m in sent)


async def test_other_types_of_a_channel_are_acked_away(fresh_url: str) -> None:
    """Types nobody subscribed to are never delivered, and do not stay pending on the consumer either."""
    async with NatsBroker(fresh_url) as broker:
        await broker.subscribe(Subscription("ledger", ("customer.events",), frozenset({"Wanted"})))
        wanted = _message("customer.events", "Wanted")
        await broker.publish([_message("customer.events", "Other"), wanted, _message("customer.events", "Other")])
        assert await _drain(broker, "ledger", 1) == [wanted.message_id]
        assert await broker.fetch("ledger", 10, wait=0.2) == []
        _, js = broker._client()
        stream, consumer = (
            broker.settings.stream("customer.events"),
            broker.settings.consumer("ledger", "customer.events"),
        )
        info = await js.consumer_info(stream, consumer)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_late_answer_on_a_reused_inbox_goes_to_its_own_subscription(fresh_url: str) -> None:
    """A message answering an abandoned pull of subscription A, arriving on the inbox now lent to B's pull,
    is kept for A: B never sees it (B's ack would settle A's message, which A would then never get)."""
    async with NatsBroker(fresh_url) as broker:
        for name in ("alpha", "beta"):
            await broker.subscribe(Subscription(name, ("customer.events",), frozenset({"Changed"})))
        message = _message("customer.events", "Changed")
        await broker.publish([message])
        assert await _drain(broker, "beta", 1) == [message.message_id]
        nc, _ = broker._client()
        puller, route = broker._puller, await broker._route("alpha")
        (alpha_target,) = route.consumers
        # A pull of alpha's whose requester gave up at once: its inbox goes back to the pool, unanswered.
        inbox = await puller._borrow(nc)
        stream, consumer = alpha_target
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        await nc.publish(subject, json.dumps({"batch": 1, "expires": 2_000_000_000}).encode(), reply=inbox.subject)
        puller._give_back(inbox)
        # beta's next pull borrows that same inbox; alpha's message arrives on it meanwhile.
        beta = await broker._route("beta")
        answers = await puller.pull(beta.consumers, {"batch": 1, "expires": 1_000_000_000}, 5)
        assert [m.metadata.consumer for m in answers] == [], "beta took a message pulled for alpha"
        assert await _drain(broker, "alpha", 1) == [message.message_id]


async def test_a_trickle_costs_one_pull_request_per_message(fresh_url: str, nats_url: str) -> None:
    """Messages arriving one at a time while a fetch waits: once a message said nothing was behind it, the next
    fetch lingers at once instead of first asking with no_wait (which would only come back empty). A burst is
    still fetched at once, and a fetch that cannot wait still looks."""
    async with NatsBroker(fresh_url) as broker:
        await broker.subscribe(Subscription("ledger", ("customer.events",), frozenset({"Thing"})))
        ((stream, consumer),) = (await broker._route("ledger")).consumers
        watcher = await nats.connect(nats_url)
        requests: list[dict[str, object]] = []
        lingering = asyncio.Event()

        async def seen(msg: Msg) -> None:
            requests.append(json.loads(msg.data))
            if "expires" in requests[-1]:
                lingering.set()

        await watcher.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}", cb=seen)
        await watcher.flush()
        try:
            for n in range(6):
                before = len(requests)
                lingering.clear()
                fetching = asyncio.create_task(broker.fetch("ledger", 10, wait=5))
                await asyncio.wait_for(lingering.wait(), 10)  # publish only once the fetch waits
                await broker.publish([_message("customer.events", message_id=f"m{n}")])
                (got,) = await asyncio.wait_for(fetching, 10)
                await broker.ack([got])
                assert got.message_id == f"m{n}"
                if n > 0:  # the first fetch knew nothing yet, so it asked with no_wait first
                    assert [("no_wait" in r, "expires" in r) for r in requests[before:]] == [(False, True)]
            burst = [_message("customer.events", message_id=f"b{n}") for n in range(3)]
            await broker.publish(burst)
            got_burst = [d.message_id for _ in burst for d in await broker.fetch("ledger", 1, wait=5)]
            await broker.publish([_message("customer.events", message_id="now")])
            await asyncio.sleep(0.1)
            polled = await broker.fetch("ledger", 10, wait=0)
        finally:
            await watcher.close()
    assert got_burst == ["b0", "b1", "b2"]
    assert [d.message_id for d in polled] == ["now"]


async def test_close_wakes_a_waiting_fetch(fresh_url: str) -> None:
    """close() during a long fetch makes it return at once instead of at the end of its wait."""
    broker = NatsBroker(fresh_url)
    await broker.connect()
    await broker.subscribe(Subscription("ledger", ("customer.events",), frozenset({"Thing"})))
    waiting = asyncio.create_task(broker.fetch("ledger", 10, wait=30))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await broker.close()
    assert await asyncio.wait_for(waiting, 5) == []
    assert time.monotonic() - started < 2


# -- URL, names, TLS and secrets ---------------------------------------------------------------------


def test_url_forms_and_overrides() -> None:
    """Hosts, ports, options and credentials come from the URL; keyword arguments override the options."""
    plain = parse_url("nats://10.0.0.5")
    assert (plain.server, plain.namespace, plain.visibility_timeout, plain.dedupe_window, plain.tls) == (
        "nats://10.0.0.5:4222",
        "interlink",
        30,
        120,
        False,
    )
    full = parse_url(
        "nats://bob:p%40ss@host:4333?namespace=bank&visibility_timeout=5&dedupe_window=60&request_timeout=2",
        visibility_timeout=1,
    )
    assert (full.server, full.user, full.password, full.auth_token) == ("nats://host:4333", "bob", "p@ss", None)
    assert (full.namespace, full.visibility_timeout, full.dedupe_window, full.request_timeout) == ("bank", 1, 60, 2)
    assert parse_url("nats://s3cret@host").auth_token == "s3cret"
    assert parse_url("nats://[::1]:4222").server == "nats://[::1]:4222"
    assert NatsBroker("nats://h?visibility_timeout=7").visibility_timeout == 7


@pytest.mark.parametrize(
    ("url", "tls", "files"),
    [
        ("tls://host", True, (None, None, None)),
        ("nats://host?tls=1", True, (None, None, None)),
        ("nats://host?tls=0", False, (None, None, None)),
        ("nats://host?ca_file=/ca.pem", True, ("/ca.pem", None, None)),
        ("tls://host?ca_file=/ca.pem&cert_file=/c.pem&key_file=/k.pem", True, ("/ca.pem", "/c.pem", "/k.pem")),
    ],
    ids=["tls-scheme", "tls-option", "tls-off", "ca-file-implies-tls", "client-certificate"],
)
def test_tls_options(url: str, tls: bool, files: tuple[str | None, ...]) -> None:
    """A tls:// URL, tls=1 or any certificate file turns TLS on, for every connection the broker makes."""
    settings = parse_url(url)
    assert (settings.tls, (settings.ca_file, settings.cert_file, settings.key_file)) == (tls, files)


@pytest.mark.parametrize(
    "url",
    [
        "amqp://u:s3cret@host",
        "nats://u:s3cret@",
        "nats://u:s3cret@host/path",
        "nats://u:s3cret@host:99999",
        "nats://u:s3cret@host?colour=red",
        "nats://u:s3cret@host?visibility_timeout=soon",
        "nats://u:s3cret@host?dedupe_window=0",
        "nats://u:s3cret@host?namespace=a.b",
        "nats://u:s3cret@host?tls=maybe",
        "tls://u:s3cret@host?tls=0",
        "nats://u:s3cret@host?key_file=/k.pem",
    ],
    ids=[
        "scheme", "no-host", "path", "port", "unknown-option", "not-a-number", "not-positive", "namespace-dot",
        "tls-flag", "tls-contradiction", "key-without-cert",
    ],
)  # fmt: skip
def test_bad_url_is_refused_without_its_password(url: str) -> None:
    """A bad URL raises ConfigurationError naming the problem, and never shows the password."""
    with pytest.raises(ConfigurationError) as caught:
        NatsBroker(url)
    assert "s3cret" not in str(caught.value)


def test_secrets_stay_out_of_repr() -> None:
    """repr of the broker and of its settings shows neither password nor token."""
    broker = NatsBroker("nats://bob:s3cret@host:4222?namespace=bank")
    assert "s3cret" not in repr(broker)
    assert "s3cret" not in repr(broker.settings)
    assert "t0ken" not in repr(NatsBroker("nats://t0ken@host").settings)
    assert redact("nats://bob:s3cret@host:1") == "nats://bob:***@host:1"
    assert redact("nats://t0ken@host") == "nats://***@host"
    assert redact("nats://host") == "nats://host"


def test_names_are_escaped_and_distinct() -> None:
    """Subjects and names keep letters, digits and '-'; everything else is escaped, so names never collide."""
    settings = NatsSettings(server="nats://h:4222", namespace="bank")
    assert settings.subject("loan-request.events", "loan-request.LoanSubmitted") == (
        "bank.loan-request.events.loan-request_2ELoanSubmitted"
    )
    assert settings.stream("loan-request.events") == "bank_loan-request"
    assert settings.consumer("my_sub", "customer.events") == "my_5Fsub__customer_2Eevents"
    assert token("a.b") != token("a_2Eb")
    assert token("a b*>") == "a_20b_2A_3E"
    with pytest.raises(ConfigurationError):
        settings.subject("customer..events", "Thing")


@pytest.mark.parametrize("multi_filter", [False, True], ids=["nats-2.9", "nats-2.10"])
def test_consumer_config_per_server_version(multi_filter: bool) -> None:
    """2.10+ filters on the exact subjects; before, on the whole channel, the exact ones in the description."""
    settings = NatsSettings(server="nats://h:4222", namespace="bank", visibility_timeout=7)
    subjects = {settings.subject("customer.events", t) for t in ("Moved", "Registered")}
    config = consumer_config(settings, "loan-request", "customer.events", subjects, multi_filter)
    assert (config.durable_name, config.ack_wait, config.max_deliver) == ("loan-request__customer_2Eevents", 7, -1)
    assert (config.ack_policy, config.deliver_policy) == ("explicit", "new")
    assert json.loads(config.description or "") == sorted(subjects)
    if multi_filter:
        assert (config.filter_subject, config.filter_subjects) == (None, sorted(subjects))
    else:
        assert (config.filter_subject, config.filter_subjects) == ("bank.customer.events.*", None)
    history = history_config(settings, "customer.events", subjects, multi_filter)
    assert (history.ack_policy, history.deliver_policy, history.durable_name) == ("none", "all", None)
    many = {settings.subject("customer.events", f"Type{i:04d}WithALongName") for i in range(200)}
    if multi_filter:
        assert consumer_config(settings, "s", "customer.events", many, multi_filter).description is None
    else:
        with pytest.raises(BrokerError, match="upgrade"):
            consumer_config(settings, "s", "customer.events", many, multi_filter)


async def test_unreadable_certificate_file_is_named(tmp_path: Path) -> None:
    """connect() with a CA file that cannot be read raises ConfigurationError naming the file."""
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigurationError, match=r"nowhere\.pem"):
        await NatsBroker(f"tls://127.0.0.1:4222?ca_file={missing}").connect()
    with pytest.raises(ConfigurationError, match="ca_file"):
        ssl_context(parse_url(f"tls://127.0.0.1?ca_file={missing}"))


async def test_no_secret_in_errors_or_logs_when_connecting_fails(caplog: pytest.LogCaptureFixture) -> None:
    """A failed connect raises BrokerUnavailable without the password; nothing logged shows it either."""
    caplog.set_level(logging.DEBUG)
    with socket_closed_port() as port:
        broker = NatsBroker(f"nats://bob:s3cret@127.0.0.1:{port}", request_timeout=1)
        with pytest.raises(BrokerUnavailable) as caught:
            await broker.connect()
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in caplog.text


async def test_tls_wanted_but_not_offered_sends_no_secret(nats_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Asking for TLS from a server without it fails with BrokerError before any password is sent."""
    port = nats_url.rsplit(":", 1)[1]
    with pytest.raises(BrokerError, match="secure connection") as caught:
        await NatsBroker(f"tls://bob:s3cret@127.0.0.1:{port}").connect()
    assert not isinstance(caught.value, BrokerUnavailable)
    assert "s3cret" not in str(caught.value) + caplog.text


def _certificates(folder: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; returns the CA file."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make certificates for the TLS test")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=interlink test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "san.cnf")  # fmt: skip
    return folder / "ca.pem"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateNats, Path]]:
    """A private nats-server that requires TLS and a password, and the CA file that trusts it."""
    folder = tmp_path_factory.mktemp("nats-tls")
    ca = _certificates(folder)
    tls = ("--tls", "--tlscert", str(folder / "server.pem"), "--tlskey", str(folder / "server.key"))
    with PrivateNats(folder / "store", *tls, "--user", "bob", "--pass", "s3cret") as server:
        yield server, ca


async def test_tls_and_password_roundtrip(
    tls_server: tuple[PrivateNats, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Over TLS with a CA file and a password the broker works; a wrong password or no CA is refused for good."""
    caplog.set_level(logging.DEBUG)
    server, ca = tls_server
    base = f"127.0.0.1:{server.port}?namespace=tls&ca_file={ca}&request_timeout=2"
    async with NatsBroker(f"tls://bob:s3cret@{base}") as broker:
        await broker.subscribe(Subscription("ledger", ("customer.events",), frozenset({"Thing"})))
        sent = _message("customer.events")
        await broker.publish([sent])
        assert await _drain(broker, "ledger", 1) == [sent.message_id]
    with pytest.raises(BrokerError) as wrong:
        await NatsBroker(f"tls://bob:wr0ng@{base}").connect()
    untrusted = f"tls://bob:s3cret@127.0.0.1:{server.port}?request_timeout=2"
    with pytest.raises(BrokerError, match="certificate") as unverified:
        await NatsBroker(untrusted).connect()
    for refused in (wrong.value, unverified.value):
        assert not isinstance(refused, BrokerUnavailable), refused
    assert "s3cret" not in str(wrong.value) + str(unverified.value) + caplog.text
    assert "wr0ng" not in str(wrong.value) + caplog.text


@contextlib.contextmanager
def socket_closed_port() -> Iterator[int]:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# -- the translation table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (nats_errors.AuthorizationError(), BrokerError),
        (nats_errors.SecureConnWantedError(), BrokerError),
        (nats_errors.SecureConnRequiredError(), BrokerError),
        (nats_errors.SecureConnFailedError(), BrokerError),
        (ssl.SSLCertVerificationError("certificate verify failed"), BrokerError),
        (nats_errors.MaxPayloadError(), BrokerError),
        (nats_errors.BadSubjectError(), BrokerError),
        (js_errors.ServiceUnavailableError(code=503, description="JetStream not ready"), BrokerUnavailable),
        (js_errors.ServerError(code=500, description="raft"), BrokerUnavailable),
        (js_errors.NoStreamResponseError(), BrokerUnavailable),
        (js_errors.TooManyStalledMsgsError(), BrokerUnavailable),
        (js_errors.NotFoundError(code=404, err_code=10059, description="stream not found"), BrokerError),
        (js_errors.BadRequestError(code=400, err_code=10058, description="name in use"), BrokerError),
        (nats_errors.NoRespondersError(), BrokerUnavailable),
        (nats_errors.TimeoutError(), BrokerUnavailable),
        (nats_errors.FlushTimeoutError(), BrokerUnavailable),
        (nats_errors.ConnectionClosedError(), BrokerUnavailable),
        (nats_errors.ConnectionDrainingError(), BrokerUnavailable),
        (nats_errors.ConnectionReconnectingError(), BrokerUnavailable),
        (nats_errors.NoServersError(), BrokerUnavailable),
        (nats_errors.OutboundBufferLimitError(), BrokerUnavailable),
        (nats_errors.StaleConnectionError(), BrokerUnavailable),
        (nats_errors.UnexpectedEOF(), BrokerUnavailable),
        (TimeoutError(), BrokerUnavailable),
        (ConnectionRefusedError(111, "Connect call failed"), BrokerUnavailable),
        (nats_errors.ProtocolError(), BrokerError),
        (RuntimeError("not the driver's"), BrokerError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_translation_table(error: BaseException, expected: type[BrokerError]) -> None:
    """Each driver error maps to exactly this Interlink error, with a message saying what was being done."""
    translated = translate(error, "publish to 127.0.0.1:4222")
    assert type(translated) is expected
    assert str(translated).startswith("NATS publish to 127.0.0.1:4222: ")
