"""The CloudEvents 1.0 attributes of Interlink's envelope, as JSON Schema (see ``delivery/envelope.py``)."""

from __future__ import annotations

from typing import Any

__all__ = ["COMMAND_ATTRIBUTES", "EVENT_ATTRIBUTES", "REPLY_ATTRIBUTES", "STRUCTURED_CONTENT_TYPE"]

#: Messages travel in CloudEvents structured mode: attributes and ``data`` in one JSON document.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}

EVENT_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "description": (
        "CloudEvents 1.0 attributes. Interlink sends them in structured mode: they sit next to `data` (the "
        "payload) in one JSON document."
    ),
    "required": ["specversion", "id", "source", "type", "time"],
    "properties": {
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
    },
}

COMMAND_ATTRIBUTES: dict[str, Any] = {
    **EVENT_ATTRIBUTES,
    "required": [*EVENT_ATTRIBUTES["required"], "targetdomain", "replyto"],
    "properties": {
        **EVENT_ATTRIBUTES["properties"],
        "targetdomain": {**_TEXT, "description": "The domain the command event is directed to."},
        "replyto": {**_TEXT, "description": "The channel the confirmation goes to: `<issuer>.replies`."},
        "commandid": {
            **_TEXT,
            "description": "The command's id, kept when it is sent again: the target runs it once and answers again.",
        },
    },
}

REPLY_ATTRIBUTES: dict[str, Any] = {
    **EVENT_ATTRIBUTES,
    "required": [*EVENT_ATTRIBUTES["required"], "inreplyto"],
    "properties": {
        **EVENT_ATTRIBUTES["properties"],
        "inreplyto": {**_TEXT, "description": "The id of the command event this reply answers (its `commandid`)."},
    },
}
