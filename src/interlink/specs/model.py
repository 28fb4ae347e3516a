"""The neutral specification model: what a domain puts on the wire and what it exchanges with others.

Collected from a domain's declarations (:mod:`interlink.specs.collect`) and rendered into AsyncAPI, the
landscape diagram and the compatibility check, so none of them reads the registry directly (the way
FastStream renders AsyncAPI from its own spec objects). Channels and messages are named as they travel:
events on ``<owner>.events``, command events on ``<target>.commands`` with the CloudEvents type
``<target>.<Name>``, confirmations on ``<issuer>.replies``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

__all__ = [
    "API_EXPOSURE",
    "COMMAND_EVENT",
    "DEFERRED_UPDATE",
    "FETCH",
    "FIELDS_READ",
    "INBOUND_FILE",
    "PATTERNS",
    "STATE_CHANGE_NOTIFICATION",
    "STATE_TRANSFER",
    "Channel",
    "DomainSpec",
    "Link",
    "MessageSpec",
    "Operation",
    "Reply",
    "SagaSpec",
    "SagaStepSpec",
    "events_channel",
    "operation_id",
    "summary_of",
]

API_EXPOSURE = "api-exposure"
INBOUND_FILE = "inbound-file"
STATE_CHANGE_NOTIFICATION = "state-change-notification"
DEFERRED_UPDATE = "deferred-update"
STATE_TRANSFER = "event-carried-state-transfer"
COMMAND_EVENT = "command-event"

#: The seed's six patterns, by the names the specifications use, with how people call them.
PATTERNS: dict[str, str] = {
    API_EXPOSURE: "API call",
    INBOUND_FILE: "inbound file",
    STATE_CHANGE_NOTIFICATION: "notification",
    DEFERRED_UPDATE: "deferred update",
    STATE_TRANSFER: "state transfer",
    COMMAND_EVENT: "command event",
}


#: The extension of a replica's operation listing the fields of the producer's event it keeps.
FIELDS_READ = "x-interlink-fields-read"
#: The extension of a notification's operation naming the resource it fetches from the producer's API.
FETCH = "x-interlink-fetch"


def events_channel(owner: str) -> str:
    """Where a domain's events travel."""
    return f"{owner}.events"


def summary_of(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line: a message's summary in the documents."""
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])|([a-z0-9])([A-Z])")
_NOT_ID = re.compile(r"[^a-z0-9]+")


def operation_id(domain: str, *parts: str) -> str:
    """An operation id in the one style of every document (snake_case, like the commands' and queries'),
    starting with the domain's name so that it is unique across a landscape:
    ``operation_id("loan-request", "on", "CustomerChanged")`` is ``loan_request_on_customer_changed``."""
    words = [_WORD.sub(lambda m: "_".join(g for g in m.groups() if g), p) for p in (domain, *parts)]
    return _NOT_ID.sub("_", "_".join(words).lower()).strip("_")


@dataclass(frozen=True)
class MessageSpec:
    """One kind of message: its CloudEvents ``type``, its data model, and the pattern it serves."""

    message_type: str
    model: type[BaseModel]
    pattern: str | None = None
    summary: str = ""
    #: A command event, directed to one domain: its envelope names ``targetdomain`` and ``replyto``.
    command: bool = False
    #: The answer to a command event: its envelope names the command it answers (``inreplyto``).
    reply: bool = False

    @property
    def name(self) -> str:
        """The message's name without the owning domain (``SendSms``, ``SendSms.Reply`` for its replies)."""
        head, _, last = self.message_type.rpartition(".")
        return f"{head.rpartition('.')[2]}.{last}" if self.reply and head else last


@dataclass(frozen=True)
class Reply:
    """Where the confirmation of a command goes: the issuer's reply channel, named by the ``replyto``
    attribute of the command's envelope."""

    channel: str
    messages: tuple[MessageSpec, ...] = ()
    address_header: str = "replyto"


@dataclass(frozen=True)
class Operation:
    """A domain sends to or receives from a channel; ``peer`` is the other domain, when it is known."""

    id: str
    action: Literal["send", "receive"]
    channel: str
    messages: tuple[MessageSpec, ...]
    pattern: str | None = None
    summary: str = ""
    peer: str | None = None
    reply: Reply | None = None
    #: ``x-interlink-...`` fields of the operation (what a replica reads, the saga step it is...), JSON-ready.
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Channel:
    """An address on the broker. One with a placeholder (``{issuer}.replies``) is known only at run time,
    from the message being answered."""

    address: str
    description: str = ""

    @property
    def dynamic(self) -> bool:
        """The address is chosen at run time."""
        return "{" in self.address


@dataclass(frozen=True)
class Link:
    """An integration that does not travel through a channel: an API call to another domain (or system),
    or files arriving from an external source. ``source`` -> ``target`` is the direction of the arrow on the
    landscape: the caller calls the provider, files come from their source."""

    source: str
    target: str
    pattern: str
    label: str
    external: str | None = None  # the end that is not a domain of the landscape, if any


@dataclass(frozen=True)
class SagaStepSpec:
    """One step of a saga: the command event sent to ``target``, and the one that undoes it, if any."""

    command: str
    target: str
    operation: str
    compensation: str | None = None
    compensation_operation: str | None = None
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class SagaSpec:
    """An orchestrated saga the domain runs: its data, its steps in order, and how long they may take."""

    name: str
    data: type[BaseModel]
    steps: tuple[SagaStepSpec, ...]
    deadline_seconds: float
    compensation_timeout_seconds: float
    on_end: str | None = None


@dataclass
class DomainSpec:
    """Everything one domain exchanges with the rest of the landscape."""

    name: str
    description: str = ""
    #: The domain's interface version, contact and license (``Domain(..., version=, contact=, license=)``).
    version: str = "1.0.0"
    contact: dict[str, str] = field(default_factory=dict)
    license: dict[str, str] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    #: ``"METHOD /path"`` of every command and query served over HTTP (API exposure).
    routes: list[str] = field(default_factory=list)
    sagas: list[SagaSpec] = field(default_factory=list)

    def channel(self, address: str, description: str = "") -> Channel:
        """The channel at ``address``, declared on first use."""
        if address not in self.channels:
            self.channels[address] = Channel(address, description)
        return self.channels[address]

    def received(self) -> list[MessageSpec]:
        """Every message this domain receives, once each (the replies to what it sends too): what may end
        as a dead letter in its store."""
        found: dict[str, MessageSpec] = {}
        for op in self.operations:
            if op.action == "receive":
                found.update((m.message_type, m) for m in op.messages)
            elif op.reply is not None:
                found.update((m.message_type, m) for m in op.reply.messages)
        return list(found.values())

    def messages(self, channel: str) -> list[MessageSpec]:
        """Every message that travels on ``channel`` in this domain's operations (and replies), once each."""
        found: dict[str, MessageSpec] = {}
        for op in self.operations:
            if op.channel == channel:
                found.update((m.message_type, m) for m in op.messages)
            if op.reply is not None and op.reply.channel == channel:
                found.update((m.message_type, m) for m in op.reply.messages)
        return list(found.values())
