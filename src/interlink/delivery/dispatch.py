"""Turning one incoming message into calls of the domain's declarations, inside a unit of work.

The consumer loop knows nothing of domains; it asks a :class:`Dispatcher` to handle an envelope. The
patterns (notifications, replicas, command events) add their own dispatchers; this module has the base
and the one for plain event handlers.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from typing import TypeVar

from pydantic import ValidationError

from interlink.core.clock import Clock
from interlink.core.context import Role
from interlink.core.declarations import HandlerSpec
from interlink.core.domain import Domain
from interlink.core.messages import Event, split_version
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, InvalidPayload, UnknownMessageType
from interlink.ports.envelope import Envelope, describe_validation_error

__all__ = ["CompositeDispatcher", "Dispatcher", "EventHandlerDispatcher", "read_event", "run_handlers"]

E = TypeVar("E", bound=Event)


def read_event(domain: Domain, envelope: Envelope, event_type: type[E]) -> E:
    """The typed event an envelope carries, as ``domain`` reads it: the one place envelopes become events.

    The version in the envelope's type is upcast to the event class's current version through the
    domain's upcasters, and fields the class does not know are dropped (a tolerant reader: a producer may
    add optional fields). Raises InvalidPayload naming the message and what does not fit.
    """
    _, version = split_version(envelope.type)
    where = f"{envelope.type} {envelope.id}"
    data = domain.upcasters.upcast(event_type, version, envelope.data, where)
    fields = event_type.model_fields  # a property: read once, not once per key
    known = {k: v for k, v in data.items() if k in fields}
    try:
        return event_type.model_validate(known)
    except ValidationError as exc:
        raise InvalidPayload(
            f"{where}: data does not match {event_type.__name__}: {describe_validation_error(exc)}"
        ) from exc


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

    def __init__(self, domain: Domain, clock: Clock, *, absorbed: Collection[type[Event]] = ()) -> None:
        self.domain = domain
        self._clock = clock
        # Every version a handler's event can be upcast from routes to that handler. Handlers of an
        # ``absorbed`` event run in a pattern's own dispatcher instead (a replica's, after the copy is updated).
        self._routes: dict[str, list[HandlerSpec]] = {}
        for handler in (h for h in domain.handlers if h.event_type not in absorbed):
            for type_ in domain.upcasters.types(handler.event_type):
                self._routes.setdefault(type_, []).append(handler)

    def types(self) -> dict[str, str]:
        return {t: f"{hs[0].event_type.owner()}.events" for t, hs in self._routes.items()}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        handlers = self._routes.get(envelope.type)
        if not handlers:
            raise UnknownMessageType(f"domain {self.domain.name!r} has no handler for {envelope.type!r}")
        event = read_event(self.domain, envelope, handlers[0].event_type)
        await run_handlers(self.domain, self._clock, handlers, event, envelope, uow)


async def run_handlers(
    domain: Domain, clock: Clock, handlers: list[HandlerSpec], event: Event, envelope: Envelope, uow: UnitOfWork
) -> None:
    """Run each handler on ``event`` with a handler-role context caused by ``envelope``."""
    for handler in handlers:
        ctx = domain.context_type(
            domain,
            uow,
            Role.HANDLER,
            name=handler.name,
            clock=clock,
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
