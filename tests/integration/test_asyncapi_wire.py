"""On every broker, what a running landscape puts on the wire is what its AsyncAPI documents say.

The messages are captured with the broker's own client (aio-pika, nats-py, redis; the embedded broker's
table read with sqlite3), not through Interlink. Each body validates with ``jsonschema`` against the payload
schema of its message in every document that has it; what the broker carried beside the body validates
against the message's headers schema; and where the message went (exchange and routing key, subject and
stream, stream key, channel) is the address and bindings of the document's channel for it. A reply's
channel, known only at run time, is checked through the ``replyto`` of the command it answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from interlink.runtime import Runtime, Settings
from interlink.specs import asyncapi_document, collect
from interlink.specs.wire import ISSUER, Wire, nats_token
from interlink.specs.wire_url import wire_for
from interlink.testing.waiting import wait_until
from tests.integration.wire_app import Opening, bureau, desk, open_account
from tests.integration.wiretap import Captured, tap_for

ACCOUNTS = 4  # every other one's Freeze is refused
REFUSED = {f"A{i}" for i in range(ACCOUNTS) if i % 2}
# Opened: AccountChanged, AccountTouched, AccountOpened; then Freeze and its reply; a confirmed Freeze
# sends AccountChanged again.
EXPECTED = {
    "bureau.AccountChanged": 2 * ACCOUNTS - len(REFUSED),
    "bureau.AccountTouched": ACCOUNTS,
    "bureau.AccountOpened": ACCOUNTS,
    "bureau.Freeze": ACCOUNTS,
    "bureau.Freeze.Reply": ACCOUNTS,
}

Document = dict[str, Any]


def _documents(url: str) -> dict[str, Document]:
    return {d.name: asyncapi_document(collect(d), broker=url) for d in (bureau, desk)}


def _static_addresses(wire: Wire, documents: dict[str, Document]) -> set[str]:
    """The broker objects a tap listens on: exchanges (RabbitMQ) or stream keys (Redis)."""
    found = set()
    for doc in documents.values():
        for channel in doc["channels"].values():
            exchange = channel.get("bindings", {}).get("amqp", {}).get("exchange", {}).get("name")
            if exchange:
                found.add(exchange)
            elif channel.get("address") is not None:
                found.add(channel["address"])
    return found


def _validator(doc: Document, name: str, pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at ``pointer`` in ``doc``, its ``$ref`` s resolved in the document."""
    uri = f"urn:asyncapi:{name}"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT202012.create_resource(doc))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{uri}#{pointer}"}, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _observed(message: Captured, documented: dict[str, str]) -> dict[str, str]:
    """The captured coordinates that the documented ones name."""
    return {key: message.coordinates[key] for key in documented if key in message.coordinates}


def _expected_coordinates(wire: Wire, channel: Document, message: Captured, replyto: dict[str, str]) -> dict[str, str]:
    """Where the document says the message goes: its channel's address and bindings, or for a run-time
    channel its ``x-interlink-address`` with the issuer taken from the ``replyto`` of the command answered."""
    if channel.get("address") is None:
        issuer = replyto[message.body["inreplyto"]].removesuffix(".replies")
        token = nats_token(issuer) if wire.name == "nats" else issuer
        return {k: v.replace(ISSUER, token) for k, v in channel["x-interlink-address"].items()}
    if wire.name == "rabbitmq":
        return {"exchange": channel["bindings"]["amqp"]["exchange"]["name"], "routingKey": channel["address"]}
    if wire.name == "nats":
        return {"subject": channel["address"], "stream": channel["bindings"]["nats"]["x-stream"]}
    if wire.name == "redis":
        return {"stream": channel["address"]}
    return {"channel": channel["address"]}


def _check(wire: Wire, documents: dict[str, Document], captured: list[Captured]) -> dict[str, int]:
    """Every captured message against every document channel holding its type; how many were checked per
    document."""
    replyto = {m.body["commandid"]: m.body["replyto"] for m in captured if "replyto" in m.body}
    checked = dict.fromkeys(documents, 0)
    for message in captured:
        kind = message.body["type"]
        places = [
            (name, key, channel)
            for name, doc in documents.items()
            for key, channel in doc["channels"].items()
            if any(doc["components"]["messages"][k]["name"] == kind for k in channel["messages"])
        ]
        assert places, f"{kind} is in no document"
        assert any(name == message.body["source"] for name, _, _ in places), f"its producer does not document {kind}"
        for name, key, channel in places:
            doc = documents[name]
            [message_key] = channel["messages"]
            component = doc["components"]["messages"][message_key]
            _validator(doc, name, f"/components/messages/{message_key}/payload").validate(message.body)
            # What older documents called the payload, the data alone, is not a body.
            assert not _validator(doc, name, f"/components/messages/{message_key}/payload").is_valid(
                message.body["data"]
            )
            _validator(doc, name, f"/components/messages/{message_key}/headers").validate(message.headers)
            expected = _expected_coordinates(wire, channel, message, replyto)
            assert _observed(message, expected) == expected, f"{kind} in {name}'s channel {key}"
            if wire.name == "rabbitmq":
                properties = component["bindings"]["amqp"]["x-properties"]
                assert message.properties == {**properties, "message_id": message.body["id"]}
                assert component["bindings"]["amqp"]["messageType"] == kind
            if wire.name == "nats":
                assert message.headers["Nats-Msg-Id"] == message.body["id"]
            if wire.name == "redis":
                assert (message.headers["message_id"], message.headers["type"]) == (message.body["id"], kind)
            checked[name] += 1
    return checked


async def test_what_each_broker_carries_is_what_the_asyncapi_documents_say(
    broker_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """State transfer, notification and public events, command events and both kinds of replies, captured
    with the broker's own client, validate against their documented payload and headers, at the documented
    address and bindings, in the producer's and in every consumer's document."""
    broker_id = request.node.callspec.id
    url = (
        broker_url + ("&" if "?" in broker_url else "?") + "dedupe_window=3600"
        if broker_id == "embedded"
        else broker_url
    )
    documents = _documents(url)
    wire = wire_for(url)
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=url, relay_poll_interval=0.1,
                        fetch_wait=0.1)  # fmt: skip
    tap = tap_for(broker_id, url)
    async with Runtime([bureau, desk], settings) as runtime:
        await tap.start(_static_addresses(wire, documents))
        try:
            for i in range(ACCOUNTS):
                opening = Opening(id=f"A{i}", holder=f"H{i}", balance="10.50", refuse_freeze=f"A{i}" in REFUSED)
                await runtime["bureau"].execute(open_account, opening)

            async def all_on_the_wire() -> list[Captured] | None:
                found = await tap.captured()
                counts = {t: len({m.body["id"] for m in found if m.body["type"] == t}) for t in EXPECTED}
                # A batch the relay published again after a lost confirm is the same messages twice.
                return found if counts == EXPECTED else None

            captured = await wait_until(all_on_the_wire, 60, interval=0.1, what="every message on the wire")
        finally:
            await tap.stop()
    checked = _check(wire, documents, captured)
    outcomes = {m.body["data"]["outcome"] for m in captured if m.body["type"] == "bureau.Freeze.Reply"}
    assert outcomes == {"confirmed", "failed"}
    # bureau documents all it sends and receives; desk all it receives and sends: every message twice.
    assert checked == {"bureau": len(captured), "desk": len(captured)}
