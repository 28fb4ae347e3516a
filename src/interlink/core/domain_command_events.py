"""The verbs of pattern 6 on :class:`~interlink.core.domain.Domain`: command events, their replies and sagas
(see :mod:`interlink.core.command_events` and :mod:`interlink.core.sagas`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from interlink.core.command_events import CommandHandlerSpec, ReplyHandlerSpec, handler_spec, reply_handler_spec
from interlink.core.declarations import AsyncFn, CommandSpec, QuerySpec, ServiceSpec, inspect_function
from interlink.core.messages import Command, Message
from interlink.core.retry import RetryPolicy
from interlink.core.saga_query import saga_state
from interlink.core.sagas import Saga, SagaState, Step
from interlink.exceptions import ConfigurationError

__all__ = ["CommandEventVerbs"]

F = TypeVar("F", bound=AsyncFn)
M = TypeVar("M", bound=type[Message])


class CommandEventVerbs:
    """Mixin of Domain: ``handles``, ``on_reply``, ``saga`` and ``awaits_reply``."""

    if TYPE_CHECKING:
        name: str

        def spec_of(self, func: Callable[..., Any]) -> CommandSpec | QuerySpec | ServiceSpec | None: ...
        def _retry(self, message_type: type[Message], retry: RetryPolicy | None) -> None: ...

        queries: dict[str, QuerySpec]
        command_handlers: dict[type[Command], CommandHandlerSpec]
        reply_handlers: dict[type[Command], ReplyHandlerSpec]
        sagas: dict[str, Saga]

        def command_message(self, cls: M) -> M: ...
        def query(self, func: None = None, /, *, http: str | None = None, name: str | None = None) -> Any: ...

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
        """Declare an orchestrated saga (see :mod:`interlink.core.sagas`); start it with
        ``await ctx.start_saga(saga, data)`` from a command. The first saga also declares the query
        ``saga_state`` (``GET /sagas/{saga_id}``), which shows a saga's state and history. ``on_end``, a
        command of this domain taking a :class:`~interlink.core.sagas.SagaState`, runs when a saga ends."""
        if name in self.sagas:
            raise ConfigurationError(f"domain {self.name!r} already declares saga {name!r}")
        if on_end is not None:
            spec = self.spec_of(on_end)
            if not isinstance(spec, CommandSpec) or spec.input_type is not SagaState:
                raise ConfigurationError(
                    f"saga {name!r}: on_end must be a command of {self} taking a SagaState, got {on_end!r}"
                )
        saga = Saga(name, self.name, data, tuple(steps), deadline, compensation_timeout, on_end)
        if not self.sagas and "saga_state" not in self.queries:
            self.query(http="GET /sagas/{saga_id}")(saga_state)
        self.sagas[name] = saga
        return saga

    def awaits_reply(self, command_type: type[Command]) -> bool:
        """True when this domain declared a handler for the replies to ``command_type``."""
        return command_type in self.reply_handlers
