"""Messages that cross a domain's boundary: domain events and command events.

A message class gets its wire name from its class name (or ``__message_name__``) and belongs to the domain
that declared it (``@domain.event`` or ``@domain.command_message``). Its CloudEvents ``type`` is
``"<owner>.<name>"``, so two domains can each have a ``Changed`` event without clashing.

A message's schema has a version (``__message_version__``, 1 unless declared). Version 1 keeps the plain
type; a later version appends it: ``"loan-request.LoanRequestChanged.v2"``. A consumer turns older
versions into the current one with upcasters (:mod:`interlink.core.versions`).
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from interlink.core.aggregate import Aggregate
from interlink.exceptions import ConfigurationError

__all__ = [
    "Command",
    "Event",
    "Message",
    "NotificationEvent",
    "PrivateEvent",
    "PublicEvent",
    "split_version",
    "versioned_type",
]

_VERSIONED = re.compile(r"^(.+\..+)\.v([1-9][0-9]{0,5})$")


def versioned_type(base: str, version: int) -> str:
    """The CloudEvents ``type`` of ``base`` (``"<owner>.<name>"``) at a schema version (1: no suffix)."""
    return base if version == 1 else f"{base}.v{version}"


def split_version(message_type: str) -> tuple[str, int]:
    """``"<owner>.<name>[.v<n>]"`` -> (``"<owner>.<name>"``, n); a type without a suffix is version 1."""
    found = _VERSIONED.match(message_type)
    return (found.group(1), int(found.group(2))) if found else (message_type, 1)


class Message(BaseModel):
    """Base of every message: an immutable pydantic model whose fields are the message's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    __message_name__: ClassVar[str | None] = None
    __owner__: ClassVar[str | None] = None
    __message_version__: ClassVar[int] = 1

    @classmethod
    def message_name(cls) -> str:
        """The name on the wire, without the owning domain."""
        return cls.__dict__.get("__message_name__") or cls.__name__

    @classmethod
    def owner(cls) -> str:
        """The domain that declared this message; a message nobody declared cannot travel."""
        owner = cls.__dict__.get("__owner__")
        if not owner:
            raise ConfigurationError(
                f"{cls.__name__} belongs to no domain: declare it with @<domain>.event "
                f"(or @<domain>.command_message for a command event)"
            )
        return str(owner)

    @classmethod
    def message_version(cls) -> int:
        """The version of this message's schema (declared by the class itself, 1 unless declared)."""
        version = cls.__dict__.get("__message_version__", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigurationError(f"{cls.__name__}.__message_version__ must be an integer >= 1, got {version!r}")
        return version

    @classmethod
    def base_type(cls) -> str:
        """The CloudEvents ``type`` without its version: ``"<owner>.<name>"``."""
        return f"{cls.owner()}.{cls.message_name()}"

    @classmethod
    def message_type(cls) -> str:
        """The CloudEvents ``type``: ``"<owner>.<name>"``, with ``".v<n>"`` from version 2 on."""
        return versioned_type(cls.base_type(), cls.message_version())


class Event(Message):
    """A domain event: something that happened. Named in the past tense (``LoanSubmitted``)."""

    public: ClassVar[bool] = True
    #: The pattern this kind of event stands for in the documents (``x-interlink-pattern``): set by the event
    #: classes of a pattern (a fat state-transfer event, a thin notification...), None for a plain event.
    __pattern__: ClassVar[str | None] = None
    #: The pattern a subscription to this kind of event from another domain stands for, None when the event
    #: itself says nothing of what the subscriber does with it.
    __subscribed_pattern__: ClassVar[str | None] = None


class PublicEvent(Event):
    """An event other domains may subscribe to; part of the domain's published contract."""

    public: ClassVar[bool] = True


class PrivateEvent(Event):
    """An event handled only inside its own domain; other domains may not subscribe to it."""

    public: ClassVar[bool] = False


class NotificationEvent(PublicEvent):
    """A thin event saying that a resource changed, for the State Change Notification pattern.

    It carries no state: the resource type, its id, its version after the change and the path of the
    resource on the producer's API. A consumer retrieves the changed data through its External Service.
    Declare a subclass per resource (``class CustomerChanged(NotificationEvent): ...``) and emit it from
    the command that changed the aggregate, through the outbox like any event::

        ctx.emit(CustomerChanged.of(customer, path=f"/customers/{customer.id}"), about=customer)
    """

    __pattern__: ClassVar[str | None] = "state-change-notification"
    __subscribed_pattern__: ClassVar[str | None] = "state-change-notification"

    resource: str = Field(description="The kind of resource that changed (its aggregate type).")
    id: str = Field(description="The id of the resource that changed.")
    version: int = Field(description="Its version after the change: a fetch must return this one or a later one.")
    path: str = Field(description="Where the producer's API serves the resource: GET it for the current state.")

    @classmethod
    def of(cls, aggregate: Aggregate, *, path: str) -> Self:
        """The notification for ``aggregate`` as saved (its version is the one after the change)."""
        return cls(resource=aggregate.aggregate_name(), id=aggregate.id, version=aggregate.version, path=path)


class Command(Message):
    """A command event: an instruction directed to one domain (``SendSms``), answered by a confirmation."""
