"""State Change Notification, eager or with deferred update: what a consumer declares (no I/O here).

``domain.on_notification(Event, fetch=service, command=update)``: on each notification, retrieve the
changed data through the External Service and run ``update`` with it (Event Capture, Retrieve changed
data, Update Data). ``domain.deferred(Event, fetch=service, command=update)``: on each notification,
only record that the resource is pending; a query or command that reads it with ``ctx.fresh`` retrieves
and updates it then. The run-time behaviour lives in :mod:`interlink.patterns.notification`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.declarations import CommandSpec
from interlink.core.external import ExternalService
from interlink.core.messages import NotificationEvent
from interlink.exceptions import AdapterError, ConfigurationError

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = [
    "NotificationSpec",
    "ReadLag",
    "Refresher",
    "SourceDown",
    "SourceUnavailable",
    "notification_spec",
    "notifications_of",
    "version_of",
]

SourceDown = Literal["stale", "fail"]


class SourceUnavailable(AdapterError):
    """The source of a notified change could not be reached (no answer, a timeout, 429 or a 5xx).

    Transient: the consumer retries the notification on its retry policy's time budget (never using up
    its attempts), then parks it for a redrive once the source answers; a deferred read with
    ``when_source_down="fail"`` raises it to the caller.
    """

    @property
    def transient(self) -> bool:
        """Always: the source may answer later."""
        return True


class ReadLag(AdapterError):
    """The source answered with an older version than the one notified: its read side lags behind.

    Trying again later will find the notified version; the consumer retries with backoff (transient).
    """

    @property
    def transient(self) -> bool:
        """Always: the source's read side catches up."""
        return True


def version_of(data: Any) -> int:
    """The source's version of the fetched resource: its ``version`` attribute or key."""
    value = data.get("version") if isinstance(data, Mapping) else getattr(data, "version", None)
    if not isinstance(value, int):
        raise ConfigurationError(
            f"the fetched {type(data).__name__} has no integer 'version'; declare version=<function> to read it"
        )
    return value


@dataclass(frozen=True, eq=False)
class NotificationSpec:
    """One subscription to a notification: the event, where to fetch, and what to run with the result.

    ``aggregate`` is the local copy the update command maintains (its id is the notified id); ``ctx.fresh``
    reads through it. ``deferred`` means the notification only records a pending flag.
    """

    name: str
    event_type: type[NotificationEvent]
    fetch: ExternalService[Any]
    command: CommandSpec
    gone: CommandSpec | None
    aggregate: type[Aggregate] | None
    deferred: bool
    when_source_down: SourceDown
    version: Callable[[Any], int]
    #: The update command acts on every change (emits, sends, starts a saga): deferring it would skip that.
    side_effects: bool = False

    @property
    def pattern(self) -> str:
        """``deferred`` or ``notification``, as ``interlink advise`` names them."""
        return "deferred" if self.deferred else "notification"

    def input_for(self, spec: CommandSpec, data: Any) -> Any:
        """``data`` in a form the command's input model validates (a foreign model is dumped first)."""
        if isinstance(data, BaseModel) and spec.input_type is not None and not isinstance(data, spec.input_type):
            return data.model_dump()
        return data


def notification_spec(
    name: str,
    event_type: type[NotificationEvent],
    *,
    fetch: ExternalService[Any],
    command: CommandSpec,
    gone: CommandSpec | None,
    aggregate: type[Aggregate] | None,
    deferred: bool,
    when_source_down: SourceDown,
    version: Callable[[Any], int] | None,
    side_effects: bool = False,
) -> NotificationSpec:
    """Check a declaration and build its spec; every mistake is a ConfigurationError naming it."""
    where = f"notification subscription {name!r}"
    if not (isinstance(event_type, type) and issubclass(event_type, NotificationEvent)):
        raise ConfigurationError(f"{where}: {event_type!r} is not a NotificationEvent")
    if not isinstance(fetch, ExternalService):
        raise ConfigurationError(f"{where}: fetch= must be an external service declared on the domain")
    if when_source_down not in ("stale", "fail"):
        raise ConfigurationError(f"{where}: when_source_down must be 'stale' or 'fail', got {when_source_down!r}")
    if aggregate is None and isinstance(command.result_type, type) and issubclass(command.result_type, Aggregate):
        aggregate = command.result_type
    if deferred and aggregate is None:
        raise ConfigurationError(
            f"{where}: name the local aggregate the command keeps (aggregate=...), so ctx.fresh can read through it"
        )
    if deferred and side_effects:
        raise ConfigurationError(f"{where}: a subscription that reacts to every change cannot defer its update")
    return NotificationSpec(
        name, event_type, fetch, command, gone, aggregate, deferred, when_source_down, version or version_of,
        side_effects,
    )  # fmt: skip


class Refresher(Protocol):
    """Brings a deferred resource up to date before it is read (implemented by the notification pattern)."""

    async def refresh(self, cls: type[Aggregate], id: str, correlation_id: str) -> bool:
        """Apply a pending update of ``cls`` ``id`` in its own committed unit of work; True when the copy
        is stale (the source was down and the policy serves the stale copy)."""
        ...


def notifications_of(domain: Domain) -> dict[str, NotificationSpec]:
    """The notification subscriptions declared on ``domain`` (``on_notification`` and ``deferred``), by name."""
    found: dict[str, NotificationSpec] = domain.declarations.setdefault("notifications", {})
    return found
