"""AsyncAPI 3.0 documents rendered from the specification model.

One document per domain: its channels, what it sends and receives on them, each message with the JSON
Schema of its data and the CloudEvents attributes of its envelope (a message trait), the pattern each
message and operation belongs to (``x-interlink-pattern``), the other domain of an operation
(``x-interlink-peer``), command events with their reply (the target's ``reply`` names the issuer's channel
from the ``replyto`` header; the issuer's names its own ``<issuer>.replies``), what a replica reads
(``x-interlink-fields-read``) and what a notification fetches (``x-interlink-fetch``), the sagas the domain
runs (``x-interlink-sagas``), and the domain's dead-letter channel (``x-interlink-dead-letter``).
"""

from __future__ import annotations

import re
from typing import Any

from interlink.specs.cloudevents import (
    COMMAND_ATTRIBUTES,
    EVENT_ATTRIBUTES,
    REPLY_ATTRIBUTES,
    STRUCTURED_CONTENT_TYPE,
)
from interlink.specs.model import Channel, DomainSpec, MessageSpec, Operation, SagaSpec
from interlink.specs.schemas import model_schemas

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
PATTERN = "x-interlink-pattern"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _key(text: str) -> str:
    """An id usable as a key of the document (channels, messages) from an address or a message type."""
    return _UNSAFE.sub("_", text.replace("{", "").replace("}", ""))


def asyncapi_document(spec: DomainSpec, version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one domain."""
    messages = _all_messages(spec)
    models = [*(m.model for m in messages), *(s.data for s in spec.sagas)]
    payloads, schemas = model_schemas(models, "#/components/schemas/{model}")
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{spec.name} domain",
            "version": version,
            "description": spec.description or f"The messages of the {spec.name} domain.",
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": {_key(c.address): _channel(spec, c) for c in spec.channels.values()},
        "operations": {op.id: _operation(op) for op in spec.operations},
        "components": {
            "schemas": schemas,
            "messages": {_key(m.message_type): _message(m, payloads[m.model]) for m in messages},
            "messageTraits": {
                "cloudEvent": {
                    "summary": "A CloudEvents 1.0 envelope, structured mode.",
                    "headers": EVENT_ATTRIBUTES,
                },
                "commandEvent": {
                    "summary": "A CloudEvents 1.0 envelope of a command event, directed to one domain.",
                    "headers": COMMAND_ATTRIBUTES,
                },
                "commandReply": {
                    "summary": "A CloudEvents 1.0 envelope of the reply to a command event.",
                    "headers": REPLY_ATTRIBUTES,
                },
            },
            "correlationIds": {
                "correlation": {
                    "description": "The business flow a message belongs to, carried from message to message.",
                    "location": "$message.header#/correlationid",
                }
            },
        },
    }
    if not schemas:
        del document["components"]["schemas"]
    if spec.sagas:
        document["x-interlink-sagas"] = {s.name: _saga(s, payloads[s.data]) for s in spec.sagas}
    return document


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


def _message(message: MessageSpec, payload: dict[str, Any]) -> dict[str, Any]:
    trait = "commandEvent" if message.command else "commandReply" if message.reply else "cloudEvent"
    rendered: dict[str, Any] = {
        "name": message.message_type,
        "title": message.model.__name__,
        "contentType": STRUCTURED_CONTENT_TYPE,
        "payload": payload,
        "correlationId": {"$ref": "#/components/correlationIds/correlation"},
        "traits": [{"$ref": f"#/components/messageTraits/{trait}"}],
    }
    if message.summary:
        rendered["summary"] = message.summary
    if message.pattern:
        rendered[PATTERN] = message.pattern
    return rendered


def _channel(spec: DomainSpec, channel: Channel) -> dict[str, Any]:
    on_it = spec.received() if channel.dead_letter else spec.messages(channel.address)
    rendered: dict[str, Any] = {
        # A run-time address has no fixed value: the reply object says where to find it.
        "address": None if channel.dynamic else channel.address,
        "messages": {_key(m.message_type): {"$ref": f"#/components/messages/{_key(m.message_type)}"} for m in on_it},
    }
    if channel.description:
        rendered["description"] = channel.description
    if channel.dead_letter:
        rendered["x-interlink-dead-letter"] = True
    return rendered


def _operation(op: Operation) -> dict[str, Any]:
    channel = _key(op.channel)
    rendered: dict[str, Any] = {
        "action": op.action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{_key(m.message_type)}"} for m in op.messages],
    }
    if op.summary:
        rendered["summary"] = op.summary
    if op.pattern:
        rendered[PATTERN] = op.pattern
    if op.peer:
        rendered["x-interlink-peer"] = op.peer
    rendered.update(op.extensions)
    if op.reply is not None:
        reply_channel = _key(op.reply.channel)
        rendered["reply"] = {"channel": {"$ref": f"#/channels/{reply_channel}"}}
        if Channel(op.reply.channel).dynamic:
            # Known only from the command being answered: its replyto attribute names the channel.
            rendered["reply"]["address"] = {
                "description": f"The issuer's replies channel, {op.reply.channel}.",
                "location": f"$message.header#/{op.reply.address_header}",
            }
        if op.reply.messages:
            rendered["reply"]["messages"] = [
                {"$ref": f"#/channels/{reply_channel}/messages/{_key(m.message_type)}"} for m in op.reply.messages
            ]
    return rendered
