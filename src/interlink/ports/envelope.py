"""The CloudEvents 1.0 envelope, structured JSON mode, with Interlink's extension attributes.

Extensions (CloudEvents names: lowercase letters and digits only):

- ``correlationid``: the business flow this message belongs to, carried from message to message;
- ``causationid``: the id of the message whose handling produced this one;
- ``aggregateversion``: the version of the aggregate (``subject``) after the change the event reports;
- ``traceparent``: W3C Trace Context, as the CloudEvents distributed-tracing extension defines it;
- ``targetdomain``: for a command event, the domain it is directed to;
- ``replyto``: for a command event, the channel its confirmation goes to.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import to_json

from interlink.exceptions import MalformedMessage
from interlink.ports.ids import random_hex

__all__ = [
    "TRACEPARENT",
    "Envelope",
    "channel_of",
    "describe_validation_error",
    "encode_trusted",
    "new_message_id",
    "ordering_key_of",
]

_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
#: A W3C ``traceparent`` value, as a message or a request may carry it.
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_CORE = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"}


def new_message_id() -> str:
    """A fresh, globally unique message id (128 random bits, as hex)."""
    return random_hex(16)


def channel_of(source: str, target: str | None) -> str:
    """The channel of a message: the target domain's commands, or the source domain's events."""
    return f"{target}.commands" if target else f"{source}.events"


def ordering_key_of(type: str, subject: str | None) -> str | None:
    """Messages with the same key keep their order: those of one type about one aggregate."""
    return f"{type}:{subject}" if subject else None


def encode_trusted(attributes: dict[str, Any], data_json: bytes) -> bytes:
    """Structured-mode JSON for an envelope this process built itself from valid parts.

    The hot path of every command: it skips the model's validation and serialises the data only once
    (``data_json`` comes straight from the message's own serializer). ``Envelope.decode`` reads it back.
    """
    head = to_json({k: v for k, v in attributes.items() if v is not None})
    return head[:-1] + b',"data":' + data_json + b"}"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the field path and what is wrong with it."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Envelope(BaseModel):
    """One message on the wire. Extension attributes beyond Interlink's own are kept, not dropped."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]
    correlationid: str | None = None
    causationid: str | None = None
    aggregateversion: int | None = Field(default=None, ge=0, strict=True)
    traceparent: str | None = None
    targetdomain: str | None = None
    replyto: str | None = None

    @field_validator("time", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        if not isinstance(value, str | datetime):
            raise ValueError("time must be an RFC 3339 timestamp string")
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone (RFC 3339)")
        return value

    @field_validator("traceparent")
    @classmethod
    def _traceparent(cls, value: str | None) -> str | None:
        if value is not None and not TRACEPARENT.match(value):
            raise ValueError("traceparent must be W3C Trace Context: 00-<32 hex>-<16 hex>-<2 hex>")
        return value

    @model_validator(mode="after")
    def _extension_names(self) -> Envelope:
        for name, value in (self.model_extra or {}).items():
            if not _EXTENSION_NAME.match(name):
                raise ValueError(f"attribute {name!r} is not a valid CloudEvents name (a-z, 0-9, <= 20)")
            if not isinstance(value, str | int | bool):
                # CloudEvents attribute types are scalars: no maps, lists or floats.
                raise ValueError(f"extension {name!r} must be a string, integer or boolean")
        return self

    @property
    def channel(self) -> str:
        """Where the broker routes it: the producing domain's events, or the target domain's commands."""
        return channel_of(self.source, self.targetdomain)

    @property
    def ordering_key(self) -> str | None:
        """Messages with the same key keep their order (the aggregate the event is about)."""
        return ordering_key_of(self.type, self.subject)

    def encode(self) -> bytes:
        """Structured-mode JSON (``application/cloudevents+json``)."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Envelope:
        """Parse and validate strictly; raises MalformedMessage naming each problem."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise MalformedMessage(f"not a CloudEvents 1.0 envelope: {describe_validation_error(exc)}") from exc

    @property
    def extensions(self) -> dict[str, Any]:
        """Every attribute outside the CloudEvents core set, Interlink's included."""
        dumped = self.model_dump(exclude_none=True)
        return {k: v for k, v in dumped.items() if k not in _CORE}
