"""The verbs of pattern 6 on :class:`~interlink.core.domain.Domain`: command events, their replies and sagas
(see :mod:`interlink.patterns.command_events.declarations` and :mod:`interlink.patterns.command_events.sagas`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from interlink.core.context import Context
from interlink.core.declarations import AsyncFn, CommandSpec, inspect_function
from interlink.core.domain import Domain
from interlink.core.messages import Command, Message
from interlink.core.retry import RetryPolicy
from interlink.exceptions import ConfigurationError, NotFoundError, RuleViolation
from interlink.patterns.command_events.declarations import (
    CommandHandlerSpec,
    ReplyHandlerSpec,
    command_handlers_of,
    handler_spec,
    reply_handler_spec,
    reply_handlers_of,
)
from interlink.patterns.command_events.records import SAGAS
from interlink.patterns.command_events.sagas import Saga, SagaState, Step, sagas_of
from interlink.patterns.command_events.sending import send_command, stage_saga

__all__ = ["CommandEventContext", "CommandEventVerbs", "saga_state"]

F = TypeVar("F", bound=AsyncFn)
M = TypeVar("M", bound=type[Message])


class CommandEventVerbs(Domain):
    """The verbs of pattern 6 on a domain: ``handles``, ``on_reply``, ``saga`` and ``awaits_reply``."""

    @property
    def command_handlers(self) -> dict[type[Command], CommandHandlerSpec]:
        """The handlers of the command events this domain takes, by command type."""
        return command_handlers_of(self)

    @property
    def reply_handlers(self) -> dict[type[Command], ReplyHandlerSpec]:
        """The handlers of the replies this domain awaits, by the command type replied to."""
        return reply_handlers_of(self)

    @property
    def sagas(self) -> dict[str, Saga]:
        """The sagas this domain declares, by name."""
        return sagas_of(self)

    def handles(self, command_type: type[Command], *, retry: RetryPolicy | None = None) -> Callable[[F], F]:
        """Declare the handler of a command event other domains send here:
        ``async def f(ctx, command: Cmd) -> Confirmation``; it runs like a command, in one transaction, and
        its result (or the reason of a business failure it raises) is the reply. Declares ``Cmd`` on this
        domain if it is not declared yet; ``retry`` overrides the runtime's retry policy for it."""
        if not command_type.__dict__.get("__owner__"):
            self.command_message(command_type)
        elif command_type.owner() != self.name:
            raise ConfigurationError(
                f"{command_type.__name__} is a command of domain {command_type.owner()!r}; "
                f"{self.name!r} cannot handle it"
            )

        def register(f: F) -> F:
            params, result = inspect_function(f, "command handler")
            if command_type in self.command_handlers:
                raise ConfigurationError(f"domain {self.name!r} already handles {command_type.__name__}")
            self.command_handlers[command_type] = handler_spec(f, command_type, params, result)
            self.runners.append(f)
            self._retry(command_type, retry)
            return f

        return register

    def on_reply(self, command_type: type[Command]) -> Callable[[F], F]:
        """Declare the handler of the replies to a command event this domain sends:
        ``async def f(ctx, reply: Reply[Cmd, Confirmation])``; it updates state through ``ctx.execute``."""

        def register(f: F) -> F:
            params, _ = inspect_function(f, "reply handler")
            if command_type in self.reply_handlers:
                raise ConfigurationError(f"domain {self.name!r} already handles the replies to {command_type.__name__}")
            self.reply_handlers[command_type] = reply_handler_spec(f, command_type, params)
            self.runners.append(f)
            return f

        return register

    def saga(
        self,
        name: str,
        data: type[BaseModel],
        *,
        steps: Sequence[Step],
        deadline: timedelta,
        compensation_timeout: timedelta = timedelta(minutes=1),
        on_end: Callable[..., Any] | None = None,
    ) -> Saga:
        """Declare an orchestrated saga (see :mod:`interlink.patterns.command_events.sagas`); start it with
        ``await ctx.start_saga(saga, data)`` from a command. The first saga also declares the query
        ``saga_state`` (``GET /sagas/{saga_id}``), which shows a saga's state and history. ``on_end``, a
        command of this domain taking a :class:`~interlink.patterns.command_events.sagas.SagaState`, runs when a
        saga ends."""
        if name in self.sagas:
            raise ConfigurationError(f"domain {self.name!r} already declares saga {name!r}")
        if on_end is not None:
            spec = self.spec_of(on_end)
            if not isinstance(spec, CommandSpec) or spec.input_type is not SagaState:
                raise ConfigurationError(
                    f"saga {name!r}: on_end must be a command of {self} taking a SagaState, got {on_end!r}"
                )
            self.internal_commands.add(spec.name)
        saga = Saga(name, self.name, data, tuple(steps), deadline, compensation_timeout, on_end)
        if not self.sagas and "saga_state" not in self.queries:
            self.query(http="GET /sagas/{saga_id}")(saga_state)
        self.sagas[name] = saga
        return saga

    def awaits_reply(self, command_type: type[Command]) -> bool:
        """True when this domain declared a handler for the replies to ``command_type``."""
        return command_type in self.reply_handlers


class CommandEventContext(Context):
    """The verbs of pattern 6 on a context: send command events, start sagas and read them."""

    def send(self, command: Command, *, to: str, deadline: timedelta | datetime | None = None) -> None:
        """Send a command event to domain ``to`` through the outbox, in the command's transaction.

        With a ``deadline`` (a duration from now, or a time), this domain's reply handler for the command
        (``@domain.on_reply``) gets a timed-out reply once, if no reply came by then; without a reply
        handler, nobody waits for the reply and the deadline has no effect.
        """
        self._require_command("ctx.send()")
        when = self.now() + deadline if isinstance(deadline, timedelta) else deadline
        send_command(self._session, self, command, to, deadline=when)

    async def start_saga(self, saga: Saga, data: Any) -> str:
        """Start a saga of this domain with ``data`` (its data model, or what validates as one); its first
        command is sent in the command's transaction. Returns the saga's id."""
        self._require_command("ctx.start_saga()")
        if saga.domain != self.domain.name:
            raise RuleViolation(f"saga {saga.name!r} belongs to domain {saga.domain!r}, not {self.domain.name!r}")
        return stage_saga(self._session, self, saga, saga.data_type.model_validate(data))

    async def saga(self, saga_id: str) -> SagaState:
        """This domain's saga ``saga_id``: its status, data and history (NotFoundError when there is none).

        Read through its record kind, so a state stored by an earlier release is upgraded; it is read-only
        here (``ctx.save`` refuses it): only the saga's transitions change it.
        """
        state = await SAGAS.load(self._session, saga_id)
        if state is None:
            raise NotFoundError(SAGAS.kind, saga_id)
        return state


async def saga_state(ctx: CommandEventContext, saga_id: str) -> SagaState:
    """One saga of this domain: its status, data and history (404 when there is no such saga)."""
    return await ctx.saga(saga_id)
