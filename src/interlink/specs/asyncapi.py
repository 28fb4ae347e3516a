"""AsyncAPI 3.0 documents rendered from the specification model, for the broker a landscape runs on.

One document per domain, describing what travels on the wire:

- ``servers``: the broker, from its URL (never its credentials), with the namespace every name carries;
- one channel per channel and message type, at the broker's real address (RabbitMQ routing key with its
  exchange in the channel's binding, NATS subject, Redis stream key, the embedded broker's channel), with
  the channel's name in ``x-interlink-channel``; see :mod:`interlink.specs.wire`;
- each message's ``payload`` is the whole body a consumer receives: the structured CloudEvent, its ``data``
  the message's schema; ``headers`` what the broker carries beside it; bindings per broker;
- command events with their reply: the target answers where the command's ``replyto`` says
  (``$message.payload#/replyto``, ``<issuer>.replies``; ``x-interlink-address`` gives the broker's names with
  ``{issuer}`` in them), the issuer takes the reply on its own replies channel;
- the pattern of each message and operation (``x-interlink-pattern``), the other domain of an operation
  (``x-interlink-peer``), what a replica reads (``x-interlink-fields-read``), what a notification fetches
  (``x-interlink-fetch``) and the sagas the domain runs (``x-interlink-sagas``).

Messages a domain cannot handle are kept in its own store as dead letters, not on the broker, so they
have no channel.
"""

from __future__ import annotations

import re
from typing import Any

from interlink.specs.cloudevents import STRUCTURED_CONTENT_TYPE, envelope_schema
from interlink.specs.examples import message_example
from interlink.specs.model import (
    COMMAND_EVENT,
    DEFERRED_UPDATE,
    INBOUND_FILE,
    PATTERNS,
    STATE_CHANGE_NOTIFICATION,
    STATE_TRANSFER,
    Channel,
    DomainSpec,
    MessageSpec,
    Operation,
    SagaSpec,
)
from interlink.specs.schemas import model_schemas
from interlink.specs.wire import ISSUER, Wire
from interlink.specs.wire_url import wire_for

__all__ = ["ASYNCAPI_VERSION", "DEFAULT_BROKER_URL", "asyncapi_document", "channel_key"]

ASYNCAPI_VERSION = "3.0.0"
#: The broker documented when none is given: the embedded one ``interlink run`` uses by default.
DEFAULT_BROKER_URL = "sqlite:///.interlink/broker.db"
PATTERN = "x-interlink-pattern"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_REPLY_LOCATION = "$message.payload#/replyto"
#: A tag per pattern, defined once in ``info.tags`` and named by the operations and messages it covers.
_TAGS: dict[str, dict[str, str]] = {
    STATE_CHANGE_NOTIFICATION: {
        "name": STATE_CHANGE_NOTIFICATION,
        "description": "State Change Notification: a thin event says what changed; the consumer fetches the rest.",
    },
    DEFERRED_UPDATE: {
        "name": DEFERRED_UPDATE,
        "description": "Deferred update: a notification marks the copy pending; the next read that needs it fetches.",
    },
    STATE_TRANSFER: {
        "name": STATE_TRANSFER,
        "description": "Event-Carried State Transfer: the event carries the state; consumers keep a replica.",
    },
    COMMAND_EVENT: {
        "name": COMMAND_EVENT,
        "description": "Command events: a command directed to one domain, confirmed by a reply.",
    },
    INBOUND_FILE: {"name": INBOUND_FILE, "description": "Inbound File: a command per record of a data file."},
}


def _key(text: str) -> str:
    """An id usable as a key of the document (channels, messages) from an address or a message type."""
    return _UNSAFE.sub("_", text.replace("{", "").replace("}", ""))


def channel_key(channel: str, message_type: str) -> str:
    """The key of the document's channel for messages of ``message_type`` on ``channel``."""
    return f"{_key(channel)}__{_key(message_type)}"


def asyncapi_document(spec: DomainSpec, version: str | None = None, broker: str | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one domain on the broker at ``broker`` (a broker URL, as ``interlink run
    --broker`` takes; the embedded default broker when None), at the domain's version unless ``version``."""
    wire = wire_for(broker or DEFAULT_BROKER_URL)
    messages = _all_messages(spec)
    models = [*(m.model for m in messages), *(s.data for s in spec.sagas)]
    data, schemas = model_schemas(models, "#/components/schemas/{model}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    security = wire.security_schemes()
    ops = spec.operations
    for op in ops:
        for message in op.messages:
            op_id = op.id if len(op.messages) == 1 else f"{op.id}_{_key(message.message_type)}"
            operations[op_id] = _operation(spec, wire, op, message, channels)
    info: dict[str, Any] = {
        "title": f"{spec.name} domain",
        "version": version or spec.version,
        "description": _description(spec),
    }
    if spec.contact:
        info["contact"] = spec.contact
    if spec.license:
        info["license"] = spec.license
    tags = {p: _TAGS[p] for p in _TAGS if any(p in (o.pattern, *(m.pattern for m in o.messages)) for o in ops)}
    info["tags"] = [{"$ref": f"#/components/tags/{p}"} for p in tags]
    server = _server(wire, given=broker is not None)
    if security:
        server["security"] = [{"$ref": f"#/components/securitySchemes/{name}"} for name in security]
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "servers": {wire.name: server},
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": {_key(m.message_type): _message(wire, m, data[m.model]) for m in messages},
            "correlationIds": {
                "correlation": {
                    "description": "The business flow a message belongs to, carried from message to message.",
                    "location": "$message.payload#/correlationid",
                }
            },
        },
    }
    if not schemas:
        del document["components"]["schemas"]
    if security:
        document["components"]["securitySchemes"] = security
    if tags:
        document["components"]["tags"] = tags
    if spec.sagas:
        document["x-interlink-sagas"] = {s.name: _saga(s, data[s.data]) for s in spec.sagas}
    return document


def _server(wire: Wire, *, given: bool) -> dict[str, Any]:
    server = wire.server()
    if not given:
        server["description"] += (
            " No broker URL was given (`--broker` or `INTERLINK_BROKER`): this is the embedded broker "
            "`interlink run` uses by default."
        )
    return server


def _description(spec: DomainSpec) -> str:
    text = spec.description or f"The messages of the {spec.name} domain."
    text += (
        "\n\nEvery message body is a CloudEvents 1.0 envelope in structured mode "
        f"(`{STRUCTURED_CONTENT_TYPE}`): each message's payload is that whole envelope, its `data` the message."
    )
    if spec.received():
        text += (
            f" Messages {spec.name} cannot handle after its retries are kept in its own store as dead letters "
            "(`interlink dead-letters`), not on the broker."
        )
    return text


def _saga(saga: SagaSpec, data: dict[str, Any]) -> dict[str, Any]:
    """A saga as an extension: its data, its steps in order (each an operation of the document, with the
    operation that compensates it), and its time limits."""
    steps = []
    for number, step in enumerate(saga.steps, start=1):
        rendered: dict[str, Any] = {
            "step": number,
            "command": step.command,
            "target": step.target,
            "operation": {"$ref": f"#/operations/{step.operation}"},
            "compensation": step.compensation,
        }
        if step.compensation_operation is not None:
            rendered["compensationOperation"] = {"$ref": f"#/operations/{step.compensation_operation}"}
        if step.timeout_seconds is not None:
            rendered["timeoutSeconds"] = step.timeout_seconds
        steps.append(rendered)
    return {
        "data": data,
        "steps": steps,
        "deadlineSeconds": saga.deadline_seconds,
        "compensationTimeoutSeconds": saga.compensation_timeout_seconds,
        "onEnd": saga.on_end,
        "description": (
            "The steps run in order, each waiting for its reply; a failure or timeout of a step sends the "
            "compensations of the steps before it, in reverse order."
        ),
    }


def _all_messages(spec: DomainSpec) -> list[MessageSpec]:
    found: dict[str, MessageSpec] = {}
    for op in spec.operations:
        found.update((m.message_type, m) for m in op.messages)
        if op.reply is not None:
            found.update((m.message_type, m) for m in op.reply.messages)
    return list(found.values())


def _owner(message_type: str) -> str:
    return message_type.split(".", 1)[0]


def _message(wire: Wire, message: MessageSpec, data: dict[str, Any]) -> dict[str, Any]:
    if message.command:
        payload = envelope_schema("command", message.message_type, data, target=_owner(message.message_type))
    elif message.reply:
        # The target answers: the reply's type is ``<target>.<Name>.Reply``.
        payload = envelope_schema("reply", message.message_type, data, source=_owner(message.message_type))
    else:
        payload = envelope_schema("event", message.message_type, data, source=_owner(message.message_type))
    rendered: dict[str, Any] = {
        "name": message.message_type,
        "title": message.model.__name__,
        "contentType": STRUCTURED_CONTENT_TYPE,
        "payload": payload,
    }
    headers = wire.headers()
    if headers is not None:
        rendered["headers"] = headers
    rendered["correlationId"] = {"$ref": "#/components/correlationIds/correlation"}
    if bindings := wire.message_bindings(message.message_type):
        rendered["bindings"] = bindings
    if message.summary:
        rendered["summary"] = message.summary
    if message.pattern:
        rendered[PATTERN] = message.pattern
    if (example := message_example(message, payload)) is not None:
        rendered["examples"] = [example]
    return rendered


def _operation_description(spec: DomainSpec, op: Operation, message: MessageSpec) -> str:
    """What the operation does, in a sentence a reader of a portal needs: who, what, and by which pattern."""
    verb = "publishes" if op.action == "send" else "receives"
    where = f" from {op.peer}" if op.peer and op.action == "receive" else f" to {op.peer}" if op.peer else ""
    text = f"{spec.name} {verb} {message.message_type}{where} on `{op.channel}`"
    text += f" ({PATTERNS[op.pattern]})." if op.pattern in PATTERNS else "."
    if op.summary:
        text += f" {op.summary[0].upper()}{op.summary[1:]}" + ("" if op.summary.endswith(".") else ".")
    if op.reply is not None:
        text += " The target answers on the issuer's replies channel."
    return text


def _channel(spec: DomainSpec, wire: Wire, address: str, message: MessageSpec, channels: dict[str, Any]) -> str:
    """The document's channel for ``message`` on ``address`` (declared on first use); its key."""
    key = channel_key(address, message.message_type)
    if key in channels:
        return key
    declared = spec.channels.get(address) or Channel(address)
    message_key = _key(message.message_type)
    rendered: dict[str, Any] = {
        # A run-time address is left out: AsyncAPI reads an absent address as one chosen at run time.
        **({} if declared.dynamic else {"address": wire.address(address, message.message_type)}),
        "title": f"{message.message_type} on {address}",
        "messages": {message_key: {"$ref": f"#/components/messages/{message_key}"}},
    }
    if declared.description:
        rendered["description"] = declared.description
    if bindings := wire.channel_bindings(address, message.message_type):
        rendered["bindings"] = bindings
    rendered["x-interlink-channel"] = address
    if declared.dynamic:
        # Known only from the command being answered: its replyto names the channel, `{issuer}.replies`.
        rendered["x-interlink-address"] = wire.coordinates(address, message.message_type)
    channels[key] = rendered
    return key


def _operation(
    spec: DomainSpec, wire: Wire, op: Operation, message: MessageSpec, channels: dict[str, Any]
) -> dict[str, Any]:
    channel = _channel(spec, wire, op.channel, message, channels)
    rendered: dict[str, Any] = {
        "action": op.action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{_key(message.message_type)}"}],
    }
    if op.summary:
        rendered["summary"] = op.summary
    rendered["description"] = _operation_description(spec, op, message)
    if op.pattern:
        rendered["tags"] = [{"$ref": f"#/components/tags/{op.pattern}"}]
    if bindings := wire.operation_bindings(op.action, spec.name, op.channel):
        rendered["bindings"] = bindings
    if op.pattern:
        rendered[PATTERN] = op.pattern
    if op.peer:
        rendered["x-interlink-peer"] = op.peer
    rendered.update(op.extensions)
    if op.reply is None or not op.reply.messages:
        return rendered
    # Each kind of reply has a channel of its own; a command has one reply type.
    [reply] = op.reply.messages[:1]
    reply_channel = _channel(spec, wire, op.reply.channel, reply, channels)
    rendered["reply"] = {
        "channel": {"$ref": f"#/channels/{reply_channel}"},
        "messages": [{"$ref": f"#/channels/{reply_channel}/messages/{_key(reply.message_type)}"}],
    }
    if Channel(op.reply.channel).dynamic:
        where = ", ".join(f"{k} `{v}`" for k, v in wire.coordinates(op.reply.channel, reply.message_type).items())
        rendered["reply"]["address"] = {
            "description": (
                f"The issuer's replies channel, named by the command's `replyto` (`{ISSUER}.replies`); on this "
                f"broker: {where}, with `{ISSUER}` the issuing domain."
            ),
            "location": _REPLY_LOCATION,
        }
    return rendered
