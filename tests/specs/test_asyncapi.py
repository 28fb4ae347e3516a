"""AsyncAPI documents: valid for the official parser, and saying what the declarations say."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate as validate_openapi
from typer.testing import CliRunner

from interlink import Domain
from interlink.cli.loading import load_domains
from interlink.cli.main import app
from interlink.patterns.api_exposure import build_api
from interlink.specs import asyncapi_document, collect
from tests.specs.conftest import SPEC_MODULES, Validate

DOMAINS = [(module, d) for module in SPEC_MODULES for d in load_domains(module)]


def document(domain: Domain) -> dict[str, Any]:
    """The AsyncAPI document of ``domain`` (on the embedded default broker)."""
    return asyncapi_document(collect(domain))


def document_on(domain: Domain, broker: str | None) -> dict[str, Any]:
    """The AsyncAPI document of ``domain`` on the broker at ``broker``."""
    return asyncapi_document(collect(domain), broker=broker)


#: A URL per kind of broker, credentials included: the documents must never show them.
BROKERS = {
    "embedded": None,
    "rabbitmq": "amqps://bank:s3cret@mq.example:5671/payments?namespace=bank",
    "nats": "nats://t0ken@nats.example:4222?namespace=bank",
    "redis": "redis://:s3cret@redis.example:6379/3?namespace=bank",
    "memory": "memory://",
}


def _parse_all(
    tmp_path: Path, asyncapi_parser: Validate, pairs: list[tuple[str, Domain, str]], processes: int = 1
) -> None:
    """Every pair's document through the parser, the files shared out over ``processes`` parser processes."""
    files = []
    for module, domain, kind in pairs:
        path = tmp_path / f"{module}.{domain.name}.{kind}.json"
        path.write_text(json.dumps(asyncapi_document(collect(domain), broker=BROKERS[kind])))
        files.append(path)
    # The parser is CPU-bound in its own (node) process: one process a core checks the same files sooner.
    with ThreadPoolExecutor(processes) as pool:
        results = [
            r for part in pool.map(asyncapi_parser, [files[i::processes] for i in range(processes)]) for r in part
        ]
    assert [r for r in results if r["errors"] or r["warnings"] or not r["parsed"]] == []
    assert len(results) == len(pairs)


def test_every_asyncapi_document_passes_the_official_parser(tmp_path: Path, asyncapi_parser: Validate) -> None:
    """@asyncapi/parser accepts, without errors or warnings, the document of every domain of the bank and of
    the test apps, each on one kind of broker in turn so that every kind is checked (the structure is the
    same on all; servers, addresses, bindings and headers differ). `make soak` checks every pair."""
    kinds = list(BROKERS)
    pairs = [(module, domain, kinds[i % len(kinds)]) for i, (module, domain) in enumerate(DOMAINS)]
    assert {kind for _, _, kind in pairs} == set(kinds)
    assert len(pairs) >= 10
    _parse_all(tmp_path, asyncapi_parser, pairs)


@pytest.mark.slow
def test_every_asyncapi_document_passes_the_official_parser_on_every_broker(
    tmp_path: Path, asyncapi_parser: Validate
) -> None:
    """@asyncapi/parser accepts the document of every domain on every kind of broker."""
    _parse_all(tmp_path, asyncapi_parser, [(m, d, kind) for m, d in DOMAINS for kind in BROKERS], processes=2)


def test_the_parser_rejects_a_broken_document(tmp_path: Path, asyncapi_parser: Validate) -> None:
    """The check is real: an operation pointing at a channel that does not exist is an error, and so is an AMQP
    binding the AMQP bindings 0.3.0 schema refuses."""
    broken = document(load_domains("tests.specs.landscape_app:messaging")[0])
    broken["operations"]["messaging_accept_send_sms"]["channel"] = {"$ref": "#/channels/nowhere"}
    rabbit = document_on(load_domains("tests.specs.landscape_app:messaging")[0], BROKERS["rabbitmq"])
    rabbit["channels"]["messaging_commands__messaging_SendSms"]["bindings"]["amqp"]["exchange"]["type"] = "bogus"
    files = [tmp_path / "broken.json", tmp_path / "bad-binding.json"]
    for path, doc in zip(files, (broken, rabbit), strict=True):
        path.write_text(json.dumps(doc))
    results = asyncapi_parser(files)
    assert [bool(r["errors"]) for r in results] == [True, True]


@pytest.mark.parametrize(("module", "domain"), DOMAINS, ids=[f"{m}:{d.name}" for m, d in DOMAINS])
def test_every_openapi_document_passes_openapi_spec_validator(module: str, domain: Domain) -> None:
    """openapi-spec-validator accepts the OpenAPI document of every domain."""
    validate_openapi(build_api(domain).openapi())


def _message(doc: dict[str, Any], operation: str) -> dict[str, Any]:
    """The component message of an operation's (only) message."""
    ref = doc["operations"][operation]["messages"][0]["$ref"]
    channel, _, key = ref.removeprefix("#/channels/").partition("/messages/")
    assert doc["channels"][channel]["messages"][key] == {"$ref": f"#/components/messages/{key}"}
    message: dict[str, Any] = doc["components"]["messages"][key]
    return message


def _channel(doc: dict[str, Any], operation: str) -> dict[str, Any]:
    channel: dict[str, Any] = doc["channels"][doc["operations"][operation]["channel"]["$ref"].rpartition("/")[2]]
    return channel


def test_events_are_sent_on_the_owner_events_channel_with_their_pattern() -> None:
    """A public event is sent on <owner>.events; its payload is the whole CloudEvent, its data the event's schema."""
    doc = document(load_domains("tests.specs.landscape_app:registry")[0])
    assert doc["asyncapi"] == "3.0.0"
    op = doc["operations"]["registry_emit_customer_changed"]
    assert (op["action"], op["x-interlink-pattern"]) == ("send", "state-change-notification")
    channel = _channel(doc, "registry_emit_customer_changed")
    assert (channel["address"], channel["x-interlink-channel"]) == ("registry.events", "registry.events")
    message = _message(doc, "registry_emit_customer_changed")
    assert message["name"] == "registry.CustomerChanged"
    payload = message["payload"]
    assert payload["properties"]["data"] == {"$ref": "#/components/schemas/CustomerChanged"}
    assert payload["properties"]["type"]["const"] == "registry.CustomerChanged"
    assert payload["properties"]["source"]["const"] == "registry"
    assert {"specversion", "id", "source", "type", "time", "data"} <= set(payload["required"])
    assert {"correlationid", "causationid", "aggregateversion", "traceparent"} <= set(payload["properties"])
    assert message["correlationId"] == {"$ref": "#/components/correlationIds/correlation"}
    assert doc["components"]["correlationIds"]["correlation"]["location"] == "$message.payload#/correlationid"
    assert doc["components"]["schemas"]["CustomerChanged"]["required"] == ["resource", "id", "version", "path"]
    assert doc["components"]["messages"]["registry_FileIngested"]["x-interlink-pattern"] == "inbound-file"


def test_subscriptions_name_the_pattern_the_subscriber_declared() -> None:
    """A notification subscription and a replica name their pattern and producer; a plain handler names none."""
    lending = document(load_domains("tests.specs.landscape_app:lending")[0])
    messaging = document(load_domains("tests.specs.landscape_app:messaging")[0])
    notified = lending["operations"]["lending_on_customer_changed"]
    assert notified["action"] == "receive"
    assert notified["channel"] == {"$ref": "#/channels/registry_events__registry_CustomerChanged"}
    assert (notified["x-interlink-pattern"], notified["x-interlink-peer"]) == ("state-change-notification", "registry")
    assert "x-interlink-pattern" not in lending["operations"]["lending_emit_borrower_refreshed"]  # a private event
    plain = messaging["operations"]["messaging_on_loan_approved"]
    assert ("x-interlink-pattern" in plain, plain["x-interlink-peer"]) == (False, "lending")


def test_a_replica_receives_the_fat_event_and_names_the_fields_it_reads() -> None:
    """The producer sends its StateTransferEvent as state transfer; the replica receives it, reading two fields."""
    lending = document(load_domains("tests.specs.landscape_app:lending")[0])
    ledger = document(load_domains("tests.specs.landscape_app:ledger")[0])
    assert lending["operations"]["lending_emit_loan_changed"]["x-interlink-pattern"] == "event-carried-state-transfer"
    op = ledger["operations"]["ledger_replica_lending_loan_changed"]
    assert (op["action"], _channel(ledger, "ledger_replica_lending_loan_changed")["address"]) == (
        "receive",
        "lending.events",
    )
    assert (op["x-interlink-pattern"], op["x-interlink-peer"]) == ("event-carried-state-transfer", "lending")
    assert (op["x-interlink-replica"], op["x-interlink-fields-read"]) == ("lending.LoanChanged", ["amount", "status"])
    data = _message(ledger, "ledger_replica_lending_loan_changed")["payload"]["properties"]["data"]["$ref"]
    assert {"id", "version", "deleted", "customer_id", "amount", "status"} == set(
        ledger["components"]["schemas"][data.rpartition("/")[2]]["properties"]
    )


def test_command_events_arrive_on_the_commands_channel_and_reply_where_replyto_says() -> None:
    """A command event is received on <target>.commands; its typed reply goes to the address its replyto holds."""
    doc = document(load_domains("tests.specs.landscape_app:messaging")[0])
    assert _channel(doc, "messaging_accept_send_sms")["address"] == "messaging.commands"
    op = doc["operations"]["messaging_accept_send_sms"]
    assert op["x-interlink-pattern"] == "command-event"
    assert op["reply"]["address"]["location"] == "$message.payload#/replyto"
    reply_channel = "issuer_replies__messaging_SendSms_Reply"
    assert op["reply"]["channel"] == {"$ref": f"#/channels/{reply_channel}"}
    assert op["reply"]["messages"] == [{"$ref": f"#/channels/{reply_channel}/messages/messaging_SendSms_Reply"}]
    # Known only at run time: no address of its own (AsyncAPI 3 reads an absent one as chosen at run time).
    assert "address" not in doc["channels"][reply_channel]
    assert doc["channels"][reply_channel]["x-interlink-address"] == {
        "channel": "{issuer}.replies",
        "type": "messaging.SendSms.Reply",
    }
    command = _message(doc, "messaging_accept_send_sms")["payload"]
    assert {"targetdomain", "replyto", "commandid"} <= set(command["required"])
    assert command["properties"]["targetdomain"]["const"] == "messaging"
    reply = doc["components"]["messages"]["messaging_SendSms_Reply"]
    assert reply["name"] == "messaging.SendSms.Reply"
    assert "inreplyto" in reply["payload"]["required"]
    assert reply["payload"]["properties"]["source"]["const"] == "messaging"
    schemas = doc["components"]["schemas"]
    body = schemas[reply["payload"]["properties"]["data"]["$ref"].rpartition("/")[2]]
    assert (set(body["properties"]), body["required"]) == ({"outcome", "command_type", "confirmation", "reason"}, [
        "outcome", "command_type",
    ])  # fmt: skip
    assert {"$ref": "#/components/schemas/SmsSent"} in body["properties"]["confirmation"]["anyOf"]
    assert schemas["Outcome"]["enum"] == ["confirmed", "failed", "timed_out"]


def test_the_issuer_sends_to_the_target_and_takes_the_reply_on_its_own_replies_channel() -> None:
    """on_reply and every saga step are send operations on the target's commands channel, replying to the issuer."""
    doc = document(load_domains("tests.specs.landscape_app:lending")[0])
    sent = doc["operations"]["lending_send_send_sms"]
    assert (sent["action"], sent["channel"], sent["x-interlink-peer"]) == (
        "send",
        {"$ref": "#/channels/messaging_commands__messaging_SendSms"},
        "messaging",
    )
    reply_channel = "lending_replies__messaging_SendSms_Reply"
    assert sent["reply"] == {
        "channel": {"$ref": f"#/channels/{reply_channel}"},
        "messages": [{"$ref": f"#/channels/{reply_channel}/messages/messaging_SendSms_Reply"}],
    }
    assert doc["channels"][reply_channel]["address"] == "lending.replies"
    step = doc["operations"]["lending_saga_loan_booking_step1_book_loan"]
    assert step["channel"] == {"$ref": "#/channels/ledger_commands__ledger_BookLoan"}
    assert step["reply"]["channel"] == {"$ref": "#/channels/lending_replies__ledger_BookLoan_Reply"}
    assert step["x-interlink-saga"] == {"saga": "loan-booking", "step": 1, "role": "step"}
    undo = doc["operations"]["lending_saga_loan_booking_compensate1_cancel_booking"]
    assert undo["x-interlink-saga"] == {"saga": "loan-booking", "step": 1, "role": "compensation"}
    saga = doc["x-interlink-sagas"]["loan-booking"]
    assert saga["data"] == {"$ref": "#/components/schemas/LoanBookingData"}
    assert [(s["command"], s["target"], s["compensation"], s.get("timeoutSeconds")) for s in saga["steps"]] == [
        ("ledger.BookLoan", "ledger", "ledger.CancelBooking", None),
        ("messaging.SendSms", "messaging", None, 30.0),
    ]
    assert saga["steps"][0]["compensationOperation"] == {
        "$ref": "#/operations/lending_saga_loan_booking_compensate1_cancel_booking"
    }
    assert (saga["deadlineSeconds"], saga["compensationTimeoutSeconds"]) == (300.0, 60.0)


def test_only_channels_that_exist_on_a_broker_are_documented() -> None:
    """Dead letters stay in the domain's store: no document has a dead-letter channel, and every channel is
    one the domain's operations use."""
    for _, domain in DOMAINS:
        doc = document(domain)
        used = {op["channel"]["$ref"] for op in doc["operations"].values()}
        used |= {op["reply"]["channel"]["$ref"] for op in doc["operations"].values() if "reply" in op}
        assert {f"#/channels/{key}" for key in doc["channels"]} == used
        assert not [c for c in doc["channels"].values() if "dead" in str(c.get("x-interlink-channel"))]


def test_the_cli_prints_yaml_by_default_and_json_on_request() -> None:
    """`interlink spec asyncapi` prints the same document as YAML or as JSON."""
    runner = CliRunner()
    target = "tests.specs.landscape_app:lending"
    unset: dict[str, str | None] = {"INTERLINK_BROKER": None}
    as_yaml = runner.invoke(app, ["spec", "asyncapi", target], env=unset)
    as_json = runner.invoke(app, ["spec", "asyncapi", target, "--format", "json"], env=unset)
    assert as_yaml.exit_code == as_json.exit_code == 0, as_yaml.output + as_json.output
    assert yaml.safe_load(as_yaml.output) == json.loads(as_json.output) == document(load_domains(target)[0])


def test_notification_subscriptions_name_notification_or_deferred_update() -> None:
    """on_notification and deferred subscriptions receive the thin event, each named by its own pattern, and
    say which resource they fetch back."""
    loans, pricing = (document(load_domains(f"tests.specs.notification_app:{n}")[0]) for n in ("loans", "pricing"))
    assert loans["operations"]["loans_on_customer_changed"]["x-interlink-pattern"] == "state-change-notification"
    assert pricing["operations"]["pricing_on_customer_changed"]["x-interlink-pattern"] == "deferred-update"
    assert loans["operations"]["loans_on_customer_changed"]["x-interlink-fetch"] == {
        "service": "customer",
        "resource": "/customers/{id}",
    }
    assert "customer.events" in {c["address"] for c in pricing["channels"].values()}
