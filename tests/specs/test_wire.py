"""AsyncAPI documents on a given broker: the server without credentials, the adapters' own names in every
address and binding, the broker chosen as ``interlink run`` chooses it, and ``spec diff`` across the change
of payloads to whole envelopes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interlink.adapters.brokers.nats.config import parse_url as nats_settings
from interlink.adapters.brokers.nats.config import token
from interlink.adapters.brokers.rabbitmq.config import parse_url as rabbitmq_settings
from interlink.adapters.brokers.redis.scripts import Keys
from interlink.cli.loading import load_domains
from interlink.cli.main import app
from interlink.specs import asyncapi_document, collect
from interlink.specs.diff import diff_documents
from interlink.specs.wire import AmqpWire, NatsWire, RedisWire, nats_token
from interlink.specs.wire_url import wire_for

runner = CliRunner()
LENDING = "tests.specs.landscape_app:lending"
MESSAGING = "tests.specs.landscape_app:messaging"
CHANNELS = ["lending.events", "loan-request.commands", "credit_offer.replies", "ünï.events"]
TYPES = ["lending.LoanChanged", "loan-request.Submit.Reply", "credit_offer.X_y"]


def _doc(target: str, broker: str | None) -> dict[str, Any]:
    return asyncapi_document(collect(load_domains(target)[0]), broker=broker)


def test_names_are_the_adapters_own() -> None:
    """Exchanges, subjects, streams, consumers and stream keys are what the RabbitMQ, NATS and Redis adapters
    use, odd characters included."""
    amqp = wire_for("amqp://u:p@localhost/?namespace=bank")
    nats = wire_for("nats://localhost:4222?namespace=bank")
    redis = wire_for("redis://localhost:6379/0?namespace=bank")
    assert isinstance(amqp, AmqpWire)
    assert isinstance(nats, NatsWire)
    assert isinstance(redis, RedisWire)
    rabbit, jet, keys = rabbitmq_settings(amqp.url), nats_settings(nats.url), Keys("bank")
    for channel in CHANNELS:
        assert nats_token(channel) == token(channel)
        for type in TYPES:
            assert amqp.coordinates(channel, type) == {"exchange": rabbit.exchange(channel), "routingKey": type}
            assert nats.coordinates(channel, type) == {
                "subject": jet.subject(channel, type),
                "stream": jet.stream(channel),
            }
            assert redis.coordinates(channel, type)["stream"] == keys.stream(channel)
        assert nats.operation_bindings("receive", "ledger", channel)["nats"]["x-durable-consumer"] == jet.consumer(
            "ledger", channel
        )
        assert amqp.operation_bindings("receive", "ledger", channel)["amqp"]["x-queue"]["name"] == rabbit.queue(
            "ledger"
        )


@pytest.mark.parametrize(
    ("url", "server"),
    [
        (
            "amqps://bank:s3cret@mq.example/payments%2Feu?namespace=bank",
            {"host": "mq.example:5671", "protocol": "amqps", "protocolVersion": "0.9.1", "pathname": "/payments%2Feu"},
        ),
        ("nats://t0ken@nats.example?namespace=bank", {"host": "nats.example:4222", "protocol": "nats"}),
        ("tls://user:s3cret@nats.example:4223", {"host": "nats.example:4223", "protocol": "nats"}),
        (
            "rediss://user:s3cret@redis.example:6380/3?namespace=bank",
            {"host": "redis.example:6380", "protocol": "rediss", "pathname": "/3"},
        ),
        (
            "sqlite:////var/lib/bank/broker.db",
            {"host": "localhost", "protocol": "sqlite", "pathname": "//var/lib/bank/broker.db"},
        ),
    ],
)
def test_the_server_is_the_broker_without_its_credentials(url: str, server: dict[str, Any]) -> None:
    """The server names the broker's host, protocol and path; no password or token appears anywhere."""
    doc = _doc(LENDING, url)
    [shown] = doc["servers"].values()
    assert {k: v for k, v in shown.items() if k in server} == server
    text = json.dumps(doc)
    assert "s3cret" not in text
    assert "t0ken" not in text
    assert "***" in shown["x-interlink-url"] or "@" not in url


def test_the_namespace_is_in_every_address_and_binding() -> None:
    """On RabbitMQ the exchange in each channel's binding, on NATS the subject and stream, on Redis the stream
    key carry the URL's namespace; the type is the routing key, part of the subject, and the AMQP type."""
    rabbit, nats, redis = (
        _doc(MESSAGING, f"{scheme}?namespace=bank")
        for scheme in ("amqp://localhost/", "nats://localhost:4222", "redis://localhost:6379/0")
    )
    key = "messaging_commands__messaging_SendSms"
    assert rabbit["channels"][key]["address"] == "messaging.SendSms"
    assert rabbit["channels"][key]["bindings"]["amqp"]["exchange"] == {
        "name": "bank.messaging.commands", "type": "topic", "durable": True, "autoDelete": False, "vhost": "/",
    }  # fmt: skip
    assert (
        rabbit["components"]["messages"]["messaging_SendSms"]["bindings"]["amqp"]["messageType"] == "messaging.SendSms"
    )
    assert rabbit["operations"]["messaging_accept_send_sms"]["bindings"]["amqp"]["x-queue"]["name"] == "bank.messaging"
    assert nats["channels"][key]["address"] == "bank.messaging.commands.messaging_2ESendSms"
    assert nats["channels"][key]["bindings"]["nats"]["x-stream"] == "bank_messaging"
    assert nats["components"]["messages"]["messaging_SendSms"]["headers"]["required"] == ["Nats-Msg-Id"]
    assert redis["channels"][key]["address"] == "bank:stream:messaging.commands"
    assert redis["operations"]["messaging_accept_send_sms"]["bindings"]["redis"]["x-consumer-group"] == "messaging"
    # The reply goes where the command's replyto says: the issuer's exchange, subject or stream.
    reply = "issuer_replies__messaging_SendSms_Reply"
    assert rabbit["channels"][reply]["x-interlink-address"] == {
        "exchange": "bank.{issuer}.replies",
        "routingKey": "messaging.SendSms.Reply",
    }
    assert "name" not in rabbit["channels"][reply]["bindings"]["amqp"]["exchange"]
    assert nats["channels"][reply]["x-interlink-address"] == {
        "subject": "bank.{issuer}.replies.messaging_2ESendSms_2EReply",
        "stream": "bank_{issuer}",
    }
    assert redis["channels"][reply]["x-interlink-address"]["stream"] == "bank:stream:{issuer}.replies"
    assert (
        "bank.{issuer}.replies" in rabbit["operations"]["messaging_accept_send_sms"]["reply"]["address"]["description"]
    )


def test_the_cli_takes_the_broker_from_its_option_or_the_environment() -> None:
    """`spec asyncapi --broker URL` and INTERLINK_BROKER=URL print the same document, that broker's; without
    either it is the embedded default broker, saying so."""
    url = "nats://localhost:4222?namespace=bank"
    by_option = runner.invoke(app, ["spec", "asyncapi", MESSAGING, "--format", "json", "--broker", url])
    by_env = runner.invoke(app, ["spec", "asyncapi", MESSAGING, "--format", "json"], env={"INTERLINK_BROKER": url})
    neither = runner.invoke(app, ["spec", "asyncapi", MESSAGING, "--format", "json"], env={"INTERLINK_BROKER": None})
    assert by_option.exit_code == by_env.exit_code == neither.exit_code == 0, by_option.output + by_env.output
    assert json.loads(by_option.output) == json.loads(by_env.output) == _doc(MESSAGING, url)
    assert list(json.loads(by_option.output)["servers"]) == ["nats"]
    default = json.loads(neither.output)["servers"]["embedded"]
    assert (default["protocol"], default["pathname"]) == ("sqlite", "/.interlink/broker.db")
    assert "No broker URL was given" in default["description"]
    wrong = runner.invoke(app, ["spec", "asyncapi", MESSAGING, "--broker", "kafka://u:s3cret@h"])
    assert wrong.exit_code == 2
    assert "no broker for kafka://" in wrong.output
    assert "s3cret" not in wrong.output


def test_the_bundle_documents_the_broker_it_is_given(tmp_path: Path) -> None:
    """`spec bundle --broker URL` writes every AsyncAPI document for that broker."""
    result = runner.invoke(
        app, ["spec", "bundle", "tests.specs.landscape_app", "--out", str(tmp_path), "--broker", "redis://h:6379/1"]
    )
    assert result.exit_code == 0, result.output
    for name in ("registry", "lending", "ledger", "messaging"):
        doc = json.loads((tmp_path / name / "asyncapi.json").read_text())
        assert doc["servers"]["redis"]["host"] == "h:6379"


def _older(document: dict[str, Any]) -> dict[str, Any]:
    """The same document as earlier versions wrote it: payloads were the data alone, a channel held every
    message type, a run-time channel had no name but its key, and a dead-letter channel was listed."""
    old: dict[str, Any] = json.loads(json.dumps(document))
    for message in old["components"]["messages"].values():
        message["payload"] = message["payload"]["properties"]["data"]
    channels: dict[str, Any] = {}
    for channel in old["channels"].values():
        name = channel["x-interlink-channel"]
        key = re.sub(r"[^A-Za-z0-9_-]", "_", name.replace("{", "").replace("}", ""))
        merged = channels.setdefault(key, {"address": None if "{" in name else name, "messages": {}})
        merged["messages"].update(channel["messages"])
    channels["x_dead-letters"] = {"address": "x.dead-letters", "x-interlink-dead-letter": True}
    old["channels"] = channels
    return old


def test_diff_reads_documents_from_before_payloads_were_envelopes() -> None:
    """An older document of the same declarations differs in nothing: data is compared with data, channels by
    name (the run-time replies channel too), and the dead-letter channel that never existed is not missed; a
    field removed from the data is still named."""
    for target in (LENDING, MESSAGING):
        new = _doc(target, "amqp://localhost/?namespace=bank")
        assert diff_documents(_older(new), new, target) == []
    new = _doc(LENDING, None)
    broken = json.loads(json.dumps(new))
    loan = broken["components"]["schemas"]["LoanChanged"]
    del loan["properties"]["amount"]
    assert [str(c) for c in diff_documents(_older(new), broken, "lending") if c.breaking] == [
        "breaking: lending message lending.LoanChanged: field 'amount' removed",
        "breaking: lending: version 1.0.0 -> 1.0.0: 1 breaking change(s) need a new major version (2.0.0)",
    ]
