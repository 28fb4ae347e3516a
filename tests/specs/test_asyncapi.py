"""AsyncAPI documents: valid for the official parser, and saying what the declarations say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate as validate_openapi
from typer.testing import CliRunner

from interlink.cli.loading import load_domains
from interlink.cli.main import app
from interlink.core.domain import Domain
from interlink.patterns.api_exposure import build_api
from interlink.specs import asyncapi_document, collect
from tests.specs.conftest import SPEC_MODULES, Validate

DOMAINS = [(module, d) for module in SPEC_MODULES for d in load_domains(module)]


def document(domain: Domain) -> dict[str, Any]:
    """The AsyncAPI document of ``domain``."""
    return asyncapi_document(collect(domain))


def test_every_asyncapi_document_passes_the_official_parser(tmp_path: Path, asyncapi_parser: Validate) -> None:
    """@asyncapi/parser accepts the document of every domain of the bank and of the test apps, without errors."""
    files = []
    for module, domain in DOMAINS:
        path = tmp_path / f"{module}.{domain.name}.json"
        path.write_text(json.dumps(document(domain)))
        files.append(path)
    results = asyncapi_parser(files)
    assert [r for r in results if r["errors"] or not r["parsed"]] == []
    assert len(results) == len(DOMAINS) >= 10


def test_the_parser_rejects_a_broken_document(tmp_path: Path, asyncapi_parser: Validate) -> None:
    """The check is real: an operation pointing at a channel that does not exist is an error."""
    broken = document(load_domains("tests.specs.landscape_app:messaging")[0])
    broken["operations"]["acceptSendSms"]["channel"] = {"$ref": "#/channels/nowhere"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    [result] = asyncapi_parser([path])
    assert result["errors"]


@pytest.mark.parametrize(("module", "domain"), DOMAINS, ids=[f"{m}:{d.name}" for m, d in DOMAINS])
def test_every_openapi_document_passes_openapi_spec_validator(module: str, domain: Domain) -> None:
    """openapi-spec-validator accepts the OpenAPI document of every domain."""
    validate_openapi(build_api(domain).openapi())


def test_events_are_sent_on_the_owner_events_channel_with_their_pattern() -> None:
    """A public event is sent on <owner>.events, its payload is the event's JSON Schema, its pattern named."""
    doc = document(load_domains("tests.specs.landscape_app:registry")[0])
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["registry_events"]["address"] == "registry.events"
    op = doc["operations"]["emitCustomerChanged"]
    assert (op["action"], op["x-interlink-pattern"]) == ("send", "state-change-notification")
    message = doc["components"]["messages"]["registry_CustomerChanged"]
    assert message["name"] == "registry.CustomerChanged"
    assert message["payload"] == {"$ref": "#/components/schemas/CustomerChanged"}
    assert doc["components"]["schemas"]["CustomerChanged"]["required"] == ["resource", "id", "version", "path"]
    assert message["traits"] == [{"$ref": "#/components/messageTraits/cloudEvent"}]
    headers = doc["components"]["messageTraits"]["cloudEvent"]["headers"]
    assert {"specversion", "id", "source", "type", "time"} <= set(headers["required"])
    assert {"correlationid", "causationid", "aggregateversion", "traceparent"} <= set(headers["properties"])
    assert doc["components"]["messages"]["registry_FileIngested"]["x-interlink-pattern"] == "inbound-file"


def test_subscriptions_name_the_pattern_the_subscriber_declared() -> None:
    """A notification subscription and a replica name their pattern and producer; a plain handler names none."""
    lending = document(load_domains("tests.specs.landscape_app:lending")[0])
    messaging = document(load_domains("tests.specs.landscape_app:messaging")[0])
    notified = lending["operations"]["on_CustomerChanged"]
    assert notified["action"] == "receive"
    assert notified["channel"] == {"$ref": "#/channels/registry_events"}
    assert (notified["x-interlink-pattern"], notified["x-interlink-peer"]) == ("state-change-notification", "registry")
    assert "x-interlink-pattern" not in lending["operations"]["emitBorrowerRefreshed"]  # a private event
    plain = messaging["operations"]["on_loan_approved"]
    assert ("x-interlink-pattern" in plain, plain["x-interlink-peer"]) == (False, "lending")


def test_a_replica_receives_the_fat_event_and_names_the_fields_it_reads() -> None:
    """The producer sends its StateTransferEvent as state transfer; the replica receives it, reading two fields."""
    lending = document(load_domains("tests.specs.landscape_app:lending")[0])
    ledger = document(load_domains("tests.specs.landscape_app:ledger")[0])
    assert lending["operations"]["emitLoanChanged"]["x-interlink-pattern"] == "event-carried-state-transfer"
    op = ledger["operations"]["replica_lending_LoanChanged"]
    assert (op["action"], op["channel"]) == ("receive", {"$ref": "#/channels/lending_events"})
    assert (op["x-interlink-pattern"], op["x-interlink-peer"]) == ("event-carried-state-transfer", "lending")
    assert (op["x-interlink-replica"], op["x-interlink-fields-read"]) == ("lending.LoanChanged", ["amount", "status"])
    payload = ledger["components"]["messages"]["lending_LoanChanged"]["payload"]["$ref"].rpartition("/")[2]
    assert {"id", "version", "deleted", "customer_id", "amount", "status"} == set(
        ledger["components"]["schemas"][payload]["properties"]
    )


def test_command_events_arrive_on_the_commands_channel_and_reply_to_the_issuer() -> None:
    """A command event is received on <target>.commands and its typed reply goes where its replyto says."""
    doc = document(load_domains("tests.specs.landscape_app:messaging")[0])
    assert doc["channels"]["messaging_commands"]["address"] == "messaging.commands"
    op = doc["operations"]["acceptSendSms"]
    assert op["x-interlink-pattern"] == "command-event"
    assert op["reply"]["address"]["location"] == "$message.header#/replyto"
    assert op["reply"]["channel"] == {"$ref": "#/channels/issuer_replies"}
    assert op["reply"]["messages"] == [{"$ref": "#/channels/issuer_replies/messages/messaging_SendSms_Reply"}]
    assert doc["channels"]["issuer_replies"]["address"] is None
    messages = doc["components"]["messages"]
    assert messages["messaging_SendSms"]["traits"] == [{"$ref": "#/components/messageTraits/commandEvent"}]
    reply = messages["messaging_SendSms_Reply"]
    assert (reply["name"], reply["traits"]) == (
        "messaging.SendSms.Reply",
        [{"$ref": "#/components/messageTraits/commandReply"}],
    )
    schemas = doc["components"]["schemas"]
    body = schemas[reply["payload"]["$ref"].rpartition("/")[2]]
    assert (set(body["properties"]), body["required"]) == ({"outcome", "command_type", "confirmation", "reason"}, [
        "outcome", "command_type",
    ])  # fmt: skip
    assert {"$ref": "#/components/schemas/SmsSent"} in body["properties"]["confirmation"]["anyOf"]
    assert schemas["Outcome"]["enum"] == ["confirmed", "failed", "timed_out"]
    traits = doc["components"]["messageTraits"]
    assert {"targetdomain", "replyto"} <= set(traits["commandEvent"]["headers"]["required"])
    assert "inreplyto" in traits["commandReply"]["headers"]["required"]


def test_the_issuer_sends_to_the_target_and_takes_the_reply_on_its_own_replies_channel() -> None:
    """on_reply and every saga step are send operations on the target's commands channel, replying to the issuer."""
    doc = document(load_domains("tests.specs.landscape_app:lending")[0])
    sent = doc["operations"]["sendSendSms"]
    assert (sent["action"], sent["channel"], sent["x-interlink-peer"]) == (
        "send",
        {"$ref": "#/channels/messaging_commands"},
        "messaging",
    )
    assert sent["reply"] == {
        "channel": {"$ref": "#/channels/lending_replies"},
        "messages": [{"$ref": "#/channels/lending_replies/messages/messaging_SendSms_Reply"}],
    }
    assert doc["channels"]["lending_replies"]["address"] == "lending.replies"
    step = doc["operations"]["saga_loan_booking_step1_BookLoan"]
    assert step["channel"] == {"$ref": "#/channels/ledger_commands"}
    assert step["reply"]["channel"] == {"$ref": "#/channels/lending_replies"}
    assert step["x-interlink-saga"] == {"saga": "loan-booking", "step": 1, "role": "step"}
    undo = doc["operations"]["saga_loan_booking_compensate1_CancelBooking"]
    assert undo["x-interlink-saga"] == {"saga": "loan-booking", "step": 1, "role": "compensation"}
    saga = doc["x-interlink-sagas"]["loan-booking"]
    assert saga["data"] == {"$ref": "#/components/schemas/LoanBookingData"}
    assert [(s["command"], s["target"], s["compensation"], s.get("timeoutSeconds")) for s in saga["steps"]] == [
        ("ledger.BookLoan", "ledger", "ledger.CancelBooking", None),
        ("messaging.SendSms", "messaging", None, 30.0),
    ]
    assert saga["steps"][0]["compensationOperation"] == {
        "$ref": "#/operations/saga_loan_booking_compensate1_CancelBooking"
    }
    assert (saga["deadlineSeconds"], saga["compensationTimeoutSeconds"]) == (300.0, 60.0)


def test_a_domain_that_receives_has_a_dead_letter_channel_holding_what_it_receives() -> None:
    """The dead-letter channel lists every message the domain receives (replies too); one receiving none has none."""
    lending = document(load_domains("tests.specs.landscape_app:lending")[0])
    dead = lending["channels"]["lending_dead-letters"]
    assert dead["x-interlink-dead-letter"] is True
    assert set(dead["messages"]) == {
        "registry_CustomerChanged",
        "messaging_SendSms_Reply",
        "ledger_BookLoan_Reply",
        "ledger_CancelBooking_Reply",
    }
    registry = document(load_domains("tests.specs.landscape_app:registry")[0])
    assert "registry_dead-letters" not in registry["channels"]


def test_the_cli_prints_yaml_by_default_and_json_on_request() -> None:
    """`interlink spec asyncapi` prints the same document as YAML or as JSON."""
    runner = CliRunner()
    target = "tests.specs.landscape_app:lending"
    as_yaml = runner.invoke(app, ["spec", "asyncapi", target])
    as_json = runner.invoke(app, ["spec", "asyncapi", target, "--format", "json"])
    assert as_yaml.exit_code == as_json.exit_code == 0, as_yaml.output + as_json.output
    assert yaml.safe_load(as_yaml.output) == json.loads(as_json.output) == document(load_domains(target)[0])


def test_notification_subscriptions_name_notification_or_deferred_update() -> None:
    """on_notification and deferred subscriptions receive the thin event, each named by its own pattern, and
    say which resource they fetch back."""
    loans, pricing = (document(load_domains(f"tests.specs.notification_app:{n}")[0]) for n in ("loans", "pricing"))
    assert loans["operations"]["on_CustomerChanged"]["x-interlink-pattern"] == "state-change-notification"
    assert pricing["operations"]["on_CustomerChanged"]["x-interlink-pattern"] == "deferred-update"
    assert loans["operations"]["on_CustomerChanged"]["x-interlink-fetch"] == {
        "service": "customer",
        "resource": "/customers/{id}",
    }
    assert "customer.events" in {c["address"] for c in pricing["channels"].values()}
