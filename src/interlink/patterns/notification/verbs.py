"""The verbs of patterns 3 and 4 on :class:`~interlink.core.domain.Domain`: State Change Notification, with
and without deferred update (see :mod:`interlink.patterns.notification.declarations`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, overload

from interlink.core.aggregate import Aggregate
from interlink.core.declarations import AsyncFn, CommandSpec
from interlink.core.domain import Domain
from interlink.core.external import ExternalService
from interlink.core.messages import Event, NotificationEvent
from interlink.core.retry import RetryPolicy
from interlink.exceptions import ConfigurationError
from interlink.patterns.notification.declarations import (
    NotificationSpec,
    SourceDown,
    notification_spec,
    notifications_of,
)

__all__ = ["NotificationVerbs"]

F = TypeVar("F", bound=AsyncFn)


class NotificationVerbs(Domain):
    """Mixin of Domain: ``on_notification`` and ``deferred``."""

    @property
    def notifications(self) -> dict[str, NotificationSpec]:
        """The notification subscriptions declared here (``on_notification`` and ``deferred``), by name."""
        return notifications_of(self)

    @overload
    def on_notification(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: Callable[..., Any],
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        side_effects: bool = False,
    ) -> NotificationSpec: ...
    @overload
    def on_notification(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: None = None,
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        side_effects: bool = False,
    ) -> Callable[[F], F]: ...
    def on_notification(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: Callable[..., Any] | None = None,
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        side_effects: bool = False,
    ) -> NotificationSpec | Callable[[F], F]:
        """State Change Notification: on each ``event_type``, fetch the resource through ``fetch`` and run
        the command with the translated data; a 404/410 runs ``gone`` with the notification's fields.

        As a decorator, the decorated function is that command (declared as one if it is not yet)::

            @loans.on_notification(CustomerChanged, fetch=customers, gone=forget_customer)
            async def keep_customer(ctx: Context, data: LocalCustomer) -> None: ...

        ``command=`` names an already declared command instead (the call form). The fetched data's
        ``version`` (or ``version(data)``) must reach the notified one, else the notification is retried
        later (read lag). ``retry`` overrides the runtime's retry policy (a source that is down is a
        transient failure). ``side_effects=True`` says the subscription reacts to every change (its command
        emits, sends or starts a saga), so it needs each one as it happens: ``interlink advise`` never suggests
        deferring it. See :mod:`interlink.patterns.notification.declarations`.
        """

        def register(func: Callable[..., Any]) -> NotificationSpec:
            spec = self._notification(event_type, fetch, func, gone, aggregate, version, name, False, "fail")
            if side_effects:
                spec = self.notifications[spec.name] = dataclasses.replace(spec, side_effects=True)
            self._retry(event_type, retry)
            return spec

        return register(command) if command is not None else self._declaring(register)

    @overload
    def deferred(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: Callable[..., Any],
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        when_source_down: SourceDown = "stale",
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> NotificationSpec: ...
    @overload
    def deferred(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: None = None,
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        when_source_down: SourceDown = "stale",
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[F], F]: ...
    def deferred(
        self,
        event_type: type[NotificationEvent],
        *,
        fetch: ExternalService[Any],
        command: Callable[..., Any] | None = None,
        gone: Callable[..., Any] | None = None,
        aggregate: type[Aggregate] | None = None,
        when_source_down: SourceDown = "stale",
        version: Callable[[Any], int] | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> NotificationSpec | Callable[[F], F]:
        """State Change Notification with deferred update: a notification only flags the resource as
        pending; ``ctx.fresh(aggregate, id)`` fetches and runs the command when the resource is read.

        A decorator (the decorated function is the command, declared as one if it is not yet), or a call
        with ``command=`` naming a declared command, like :meth:`on_notification`. ``when_source_down``:
        ``"stale"`` serves the local copy marked stale (``ctx.stale``), ``"fail"`` raises
        SourceUnavailable. ``retry`` overrides the runtime's retry policy for the notifications.
        """

        def register(func: Callable[..., Any]) -> NotificationSpec:
            spec = self._notification(event_type, fetch, func, gone, aggregate, version, name, True, when_source_down)
            self._retry(event_type, retry)
            return spec

        return register(command) if command is not None else self._declaring(register)

    def _notification(
        self,
        event_type: type[NotificationEvent],
        fetch: ExternalService[Any],
        command: Callable[..., Any],
        gone: Callable[..., Any] | None,
        aggregate: type[Aggregate] | None,
        version: Callable[[Any], int] | None,
        name: str | None,
        deferred: bool,
        when_source_down: SourceDown,
    ) -> NotificationSpec:
        what = "deferred" if deferred else "on_notification"
        if isinstance(event_type, type) and issubclass(event_type, Event) and not event_type.public:
            raise ConfigurationError(f"{what}: {event_type.__name__} is private to domain {event_type.owner()!r}")
        command_spec = self.spec_of(command)
        if not isinstance(command_spec, CommandSpec):
            raise ConfigurationError(f"{what}: command={command!r} is not a command of {self}")
        gone_spec = self.spec_of(gone) if gone is not None else None
        if gone is not None and not isinstance(gone_spec, CommandSpec):
            raise ConfigurationError(f"{what}: gone={gone!r} is not a command of {self}")
        if fetch not in self.external_services.values():
            raise ConfigurationError(f"{what}: fetch= must be an external service declared on {self}")
        subscription = name or event_type.message_type()
        # Name the declaration already there, not the one being refused.
        named = self.notifications.get(subscription)
        same = next((s.name for s in self.notifications.values() if s.event_type is event_type), None)
        handler = next((h.name for h in self.handlers if h.event_type is event_type), None)
        if named is not None and named.event_type is not event_type:
            raise ConfigurationError(
                f"domain {self.name!r} already has a subscription named {subscription!r} "
                f"(to {named.event_type.__name__}): name this one otherwise (name=...)"
            )
        if same is not None or handler is not None:
            existing = f"subscription {same!r}" if same is not None else f"handler {handler!r}"
            raise ConfigurationError(f"domain {self.name!r} already subscribes to {event_type.__name__} ({existing})")
        self.service_providers.setdefault(fetch.name, event_type.owner())
        self.internal_commands.add(command_spec.name)
        if isinstance(gone_spec, CommandSpec):
            self.internal_commands.add(gone_spec.name)
        self.notifications[subscription] = notification_spec(
            subscription, event_type, fetch=fetch, command=command_spec,
            gone=gone_spec if isinstance(gone_spec, CommandSpec) else None, aggregate=aggregate, deferred=deferred,
            when_source_down=when_source_down, version=version,
        )  # fmt: skip
        return self.notifications[subscription]
