"""Turning one incoming message into calls of the domain's declarations, inside a unit of work.

The consumer loop knows nothing of domains; it asks a :class:`Dispatcher` to handle an envelope. The
patterns (notifications, replicas, command events) add their own dispatchers; this module has the base
and the one for plain event handlers.
"""

from __future__ import annotations

import abc

from pydantic import ValidationError

from interlink.core.clock import Clock
from interlink.core.context import Context, Role
from interlink.core.domain import Domain
from interlink.delivery.envelope import Envelope, describe_validation_error
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, InvalidPayload, UnknownMessageType

__all__ = ["CompositeDispatcher", "Dispatcher", "EventHandlerDispatcher"]


class Dispatcher(abc.ABC):
    """Runs what a domain declared for a message type. Raising a MessageError parks the message at once."""

    @abc.abstractmethod
    def types(self) -> dict[str, str]:
        """CloudEvents type -> channel, for every message type this dispatcher takes."""

    @abc.abstractmethod
    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        """Handle the message; every change goes through ``uow``."""


class EventHandlerDispatcher(Dispatcher):
    """Runs a domain's ``@domain.on(Event)`` handlers, each with a handler-role context."""

    def __init__(self, domain: Domain, clock: Clock) -> None:
        self.domain = domain
        self._clock = clock

    def types(self) -> dict[str, str]:
        return {h.event_type.message_type(): f"{h.event_type.owner()}.events" for h in self.domain.handlers}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        handlers = self.domain.handlers_for(envelope.type)
        if not handlers:
            raise UnknownMessageType(f"domain {self.domain.name!r} has no handler for {envelope.type!r}")
        event_type = handlers[0].event_type
        try:
            event = event_type.model_validate(envelope.data)
        except ValidationError as exc:
            raise InvalidPayload(
                f"{envelope.type} {envelope.id}: data does not match {event_type.__name__}: "
                f"{describe_validation_error(exc)}"
            ) from exc
        for handler in handlers:
            ctx = Context(
                self.domain,
                uow,
                Role.HANDLER,
                name=handler.name,
                clock=self._clock,
                correlation_id=envelope.correlationid or envelope.id,
                causation_id=envelope.id,
            )
            await handler.func(ctx, event)


class CompositeDispatcher(Dispatcher):
    """Routes each message type to the one dispatcher that declared it."""

    def __init__(self, dispatchers: list[Dispatcher]) -> None:
        self._routes: dict[str, Dispatcher] = {}
        self._channels: dict[str, str] = {}
        for dispatcher in dispatchers:
            for type_, channel in dispatcher.types().items():
                if type_ in self._routes:
                    raise ConfigurationError(f"{type_} is taken by two declarations of one domain")
                self._routes[type_] = dispatcher
                self._channels[type_] = channel

    def types(self) -> dict[str, str]:
        return dict(self._channels)

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        dispatcher = self._routes.get(envelope.type)
        if dispatcher is None:
            raise UnknownMessageType(f"no declaration takes messages of type {envelope.type!r}")
        await dispatcher.dispatch(envelope, uow)
