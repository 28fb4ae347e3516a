"""Command events with confirmations: what a domain declares, and the records that make replies durable.

The issuing domain sends a command event (``ctx.send(SendSms(...), to="customer-communication")``); the
target domain runs it (``@domain.handles(SendSms)``) and answers on the issuer's reply channel with a
confirmation or a failure; the issuer handles the answer (``@domain.on_reply(SendSms)``). Everything
that must survive a restart is a record in the domain's own store, under reserved kinds:

- ``~request``: an outstanding request of the issuer (written with the outgoing command, removed with the
  reply or the timeout that settles it: whichever commits first wins, through the record's version);
- ``~reply``: the target's answer to one command id, so a duplicate command is answered again, not rerun.

Their models are below; :mod:`interlink.patterns.command_events.records` declares the kinds (schema, retention).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from interlink.core.messages import Command
from interlink.exceptions import BusinessRuleError, ConfigurationError
from interlink.ports.kinds import REPLY_KIND, REQUEST_KIND

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = [
    "REPLY_KIND",
    "REQUEST_KIND",
    "CommandHandlerSpec",
    "CommandRejected",
    "Outcome",
    "OutstandingRequest",
    "Reply",
    "ReplyData",
    "ReplyHandlerSpec",
    "command_handlers_of",
    "replies_channel",
    "reply_handlers_of",
    "reply_type_of",
]


C = TypeVar("C", bound=Command)
R = TypeVar("R", bound=BaseModel)


class CommandRejected(BusinessRuleError):
    """A command handler refuses the command for a business reason; the issuer gets a failure reply."""


class Outcome(enum.StrEnum):
    """How a request ended."""

    CONFIRMED = "confirmed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class ReplyData(BaseModel):
    """The data of a reply message on the wire (and of a stored ``~reply`` record)."""

    outcome: Outcome  # described by its enum: a description beside a $ref is ignored by JSON Schema draft 7
    command_type: str = Field(description="The CloudEvents type of the command answered.")
    confirmation: dict[str, Any] | None = Field(None, description="The target's confirmation, when confirmed.")
    reason: str | None = Field(None, description="Why it failed or timed out.")


class OutstandingRequest(BaseModel):
    """A sent command still waiting for its reply (``~request`` record, id = command id)."""

    command_type: str
    command: dict[str, Any]
    to: str
    correlation_id: str
    sent_at: datetime
    deadline: datetime | None = None
    saga: str | None = None


@dataclass(frozen=True)
class Reply(Generic[C, R]):
    """The answer to one command event, handed to ``@domain.on_reply`` handlers.

    ``command_id`` correlates it with the request; ``command`` is the command as it was sent;
    ``confirmation`` is set when the outcome is confirmed, ``reason`` when it failed or timed out.
    """

    outcome: Outcome
    command: C
    command_id: str
    correlation_id: str
    confirmation: R | None = None
    reason: str | None = None

    @property
    def confirmed(self) -> bool:
        """The target ran the command."""
        return self.outcome is Outcome.CONFIRMED

    @property
    def failed(self) -> bool:
        """The target refused the command (``reason`` says why)."""
        return self.outcome is Outcome.FAILED

    @property
    def timed_out(self) -> bool:
        """No reply came before the deadline."""
        return self.outcome is Outcome.TIMED_OUT


@dataclass(frozen=True)
class CommandHandlerSpec:
    """``@domain.handles(Cmd)``: runs a command event sent by another domain, returns a confirmation."""

    name: str
    func: Callable[..., Awaitable[Any]]
    command_type: type[Command]
    confirmation_type: type[BaseModel] | None


@dataclass(frozen=True)
class ReplyHandlerSpec:
    """``@domain.on_reply(Cmd)``: handles the replies to a command event this domain sends."""

    name: str
    func: Callable[..., Awaitable[Any]]
    command_type: type[Command]
    confirmation_type: type[BaseModel] | None


def reply_type_of(command_type: type[Command]) -> str:
    """The CloudEvents type of the replies to a command event: ``"<target>.<Name>.Reply"``."""
    return f"{command_type.message_type()}.Reply"


def replies_channel(issuer: str) -> str:
    """The channel an issuing domain receives its replies on."""
    return f"{issuer}.replies"


def handler_spec(
    func: Callable[..., Awaitable[Any]], command_type: type[Command], hints: dict[str, Any], result: Any
) -> CommandHandlerSpec:
    """Check ``async def f(ctx, command: Cmd) -> Confirmation | None`` and describe it."""
    if list(hints.values()) != [command_type]:
        raise ConfigurationError(
            f"command handler {func.__qualname__} must take (ctx, command: {command_type.__name__})"
        )
    if result is not None and not (isinstance(result, type) and issubclass(result, BaseModel)):
        raise ConfigurationError(
            f"command handler {func.__qualname__} must return a pydantic model (its confirmation) or None"
        )
    return CommandHandlerSpec(func.__name__, func, command_type, result)


def reply_handler_spec(
    func: Callable[..., Awaitable[Any]], command_type: type[Command], hints: dict[str, Any]
) -> ReplyHandlerSpec:
    """Check ``async def f(ctx, reply: Reply[Cmd, Confirmation])`` and describe it."""
    (hint,) = hints.values() if len(hints) == 1 else (None,)
    if typing.get_origin(hint) is not Reply and hint is not Reply:
        raise ConfigurationError(
            f"reply handler {func.__qualname__} must take (ctx, reply: Reply[{command_type.__name__}, Confirmation])"
        )
    args = typing.get_args(hint)
    if args and args[0] is not command_type:
        raise ConfigurationError(f"reply handler {func.__qualname__} handles {command_type.__name__}, not {args[0]}")
    confirmation = args[1] if len(args) > 1 and isinstance(args[1], type) else None
    return ReplyHandlerSpec(func.__name__, func, command_type, confirmation)


def command_handlers_of(domain: Domain) -> dict[type[Command], CommandHandlerSpec]:
    """The handlers of the command events ``domain`` takes (``@domain.handles``), by command type."""
    found: dict[type[Command], CommandHandlerSpec] = domain.declarations.setdefault("command_handlers", {})
    return found


def reply_handlers_of(domain: Domain) -> dict[type[Command], ReplyHandlerSpec]:
    """The handlers of the replies ``domain`` awaits (``@domain.on_reply``), by the command type replied to."""
    found: dict[type[Command], ReplyHandlerSpec] = domain.declarations.setdefault("reply_handlers", {})
    return found
