"""The body of every message, as JSON Schema: a CloudEvents 1.0 envelope in structured mode, its ``data``
the message's own schema (see ``ports/envelope.py``).

Every broker carries this one JSON document as the body; a consumer receives it whole. Interlink's
extension attributes sit beside the core ones: ``correlationid``, ``causationid``, ``aggregateversion``,
``traceparent``; on a command event ``targetdomain``, ``replyto`` and ``commandid``; on a reply
``inreplyto``. Other extensions a producer adds are kept (lowercase letters and digits, scalar values).
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["ENVELOPE", "STRUCTURED_CONTENT_TYPE", "data_schema", "envelope_schema"]

#: Messages travel in CloudEvents structured mode: attributes and ``data`` in one JSON document.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
#: Marks a payload that is a whole envelope (its ``data`` is the message's own schema).
ENVELOPE = "x-interlink-envelope"

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}

_ATTRIBUTES: dict[str, Any] = {
    "specversion": {"type": "string", "const": "1.0"},
    "id": {**_TEXT, "description": "Unique message id; consumers deduplicate on it."},
    "source": {**_TEXT, "description": "The domain that produced the message."},
    "type": {**_TEXT, "description": "`<owner>.<Name>` of the message."},
    "subject": {"type": "string", "description": "The id of the aggregate the message is about."},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"type": "string", "const": "application/json"},
    "dataschema": {"type": "string", "format": "uri"},
    "correlationid": {"type": "string", "description": "The business flow the message belongs to."},
    "causationid": {"type": "string", "description": "The id of the message whose handling produced it."},
    "aggregateversion": {
        "type": "integer",
        "minimum": 0,
        "description": "The aggregate's version after the change; replicas apply only newer versions.",
    },
    "traceparent": {
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C Trace Context.",
    },
}
_COMMAND: dict[str, Any] = {
    "targetdomain": {**_TEXT, "description": "The domain the command event is directed to."},
    "replyto": {
        **_TEXT,
        "description": "The channel the reply goes to: `<issuer>.replies` (see the reply's address).",
    },
    "commandid": {
        **_TEXT,
        "description": "The command's id, kept when it is sent again: the target runs it once and answers again.",
    },
}
_REPLY: dict[str, Any] = {
    "inreplyto": {**_TEXT, "description": "The id of the command event this reply answers (its `commandid`)."},
}
_REQUIRED = ["specversion", "id", "source", "type", "time", "data"]


def envelope_schema(
    kind: Literal["event", "command", "reply"],
    message_type: str,
    data: dict[str, Any],
    *,
    source: str | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """The JSON Schema of a whole message body: the envelope with ``type`` fixed, ``data`` the message's
    schema, and the producing ``source`` and the command's ``target`` fixed when they are known."""
    properties = dict(_ATTRIBUTES)
    required = list(_REQUIRED)
    if kind == "command":
        properties |= _COMMAND
        required += ["targetdomain", "replyto", "commandid"]
    elif kind == "reply":
        properties |= _REPLY
        required += ["inreplyto"]
    properties["type"] = {**properties["type"], "const": message_type}
    if source is not None:
        properties["source"] = {**properties["source"], "const": source}
    if target is not None:
        properties["targetdomain"] = {**properties["targetdomain"], "const": target}
    properties["data"] = data
    return {
        "type": "object",
        "description": (
            "A CloudEvents 1.0 envelope in structured mode, exactly as the broker carries it: the attributes "
            "and `data` (the message itself) in one JSON document."
        ),
        "required": required,
        "properties": properties,
        # Extension attributes: CloudEvents names, scalar values.
        "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
        "additionalProperties": {"type": ["string", "integer", "boolean"]},
        ENVELOPE: "cloudevents-structured",
    }


def data_schema(payload: dict[str, Any]) -> dict[str, Any]:
    """The message's own schema in a payload: its envelope's ``data``, or the payload itself in documents
    written before payloads were whole envelopes."""
    if payload.get(ENVELOPE) and isinstance(payload.get("properties", {}).get("data"), dict):
        data: dict[str, Any] = payload["properties"]["data"]
        return data
    return payload
