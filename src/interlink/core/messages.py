"""Messages that cross a domain's boundary: domain events and command events.

A message class gets its wire name from its class name (or ``__message_name__``) and belongs to the domain
that declared it (``@domain.event`` or ``@domain.command_message``). Its CloudEvents ``type`` is
``"<owner>.<name>"``, so two domains can each have a ``Changed`` event without clashing.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from interlink.exceptions import ConfigurationError

__all__ = ["Command", "Event", "Message", "PrivateEvent", "PublicEvent"]


class Message(BaseModel):
    """Base of every message: an immutable pydantic model whose fields are the message's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    __message_name__: ClassVar[str | None] = None
    __owner__: ClassVar[str | None] = None

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
    def message_type(cls) -> str:
        """The CloudEvents ``type``: ``"<owner>.<name>"``."""
        return f"{cls.owner()}.{cls.message_name()}"


class Event(Message):
    """A domain event: something that happened. Named in the past tense (``LoanSubmitted``)."""

    public: ClassVar[bool] = True


class PublicEvent(Event):
    """An event other domains may subscribe to; part of the domain's published contract."""

    public: ClassVar[bool] = True


class PrivateEvent(Event):
    """An event handled only inside its own domain; other domains may not subscribe to it."""

    public: ClassVar[bool] = False


class Command(Message):
    """A command event: an instruction directed to one domain (``SendSms``), answered by a confirmation."""
