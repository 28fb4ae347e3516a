"""The context handed to commands, queries, services and event handlers.

One class enforces the method's rules by role, so the rule and its error message live in one place:

=========  ====  ====  ==========  ====  =======  ====
role       get   save  delete      emit  send     run commands
=========  ====  ====  ==========  ====  =======  ====
command    yes   yes   yes         yes   yes      yes
service    yes   no    no          no    no       yes
handler    yes   no    no          no    no       yes
query      yes   no    no          no    no       no
=========  ====  ====  ==========  ====  =======  ====
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.core.declarations import CommandSpec, ServiceSpec
from interlink.core.external import ExternalService
from interlink.core.indexed import check_filters
from interlink.core.messages import Command, Event
from interlink.core.notification import SourceUnavailable
from interlink.core.pagination import Page, decode_cursor, encode_cursor
from interlink.core.sagas import Saga
from interlink.core.state_transfer import Replica
from interlink.exceptions import ConfigurationError, InvalidInput, NotFoundError, RuleViolation

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = ["Context", "FieldValue", "Role", "Session"]

FieldValue = str | int | bool

A = TypeVar("A", bound=Aggregate)
#: A command's input model.
In = TypeVar("In", bound=BaseModel)
C = TypeVar("C", bound=Replica)
R = TypeVar("R")
T = TypeVar("T")


class Role(enum.Enum):
    """What kind of declaration the context was made for."""

    COMMAND = "command"
    SERVICE = "service"
    HANDLER = "event handler"
    QUERY = "query"


_WHY = {
    Role.QUERY: "queries do not persist or emit; move the change into a command",
    Role.SERVICE: "services do not persist or emit; they run commands (ctx.execute) that do",
    Role.HANDLER: "event handlers do not persist or emit; run a command (ctx.execute) that does",
}


class Session(Protocol):
    """What a context needs from the unit of work around it (implemented in ``interlink.delivery``)."""

    async def load(self, cls: type[A], id: str) -> A | None: ...
    def stage_save(self, aggregate: Aggregate) -> None: ...
    def stage_delete(self, aggregate: Aggregate) -> None: ...
    def stage_event(self, event: Event, ctx: Context, about: Aggregate | None) -> None: ...
    def stage_command(self, command: Command, to: str, ctx: Context) -> None: ...
    def stage_request(self, command: Command, to: str, ctx: Context, deadline: datetime) -> None: ...
    def stage_saga(self, saga: Saga, data: Any, ctx: Context) -> str: ...
    async def fetch(self, service: ExternalService[Any], path: str, ctx: Context) -> Any: ...
    async def list_aggregates(
        self, cls: type[A], where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[A]: ...
    async def refresh(self, cls: type[Aggregate], id: str, ctx: Context) -> bool:
        """Apply a deferred update pending for this aggregate, committed on its own (see ctx.fresh);
        True when the copy is stale because its source is down."""
        ...

    async def count_reads(self, cls: type[Aggregate], n: int) -> None:
        """``n`` aggregates of ``cls`` were read (``interlink advise`` weighs the reads of kept copies)."""
        ...


class Context:
    """Access to the domain's data and messaging for one declaration run.

    ``correlation_id`` follows a business flow across domains; ``causation_id`` is the id of the message
    that caused this run (None for a call from the API or the CLI).
    """

    def __init__(
        self,
        domain: Domain,
        session: Session,
        role: Role,
        *,
        name: str,
        clock: Clock,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> None:
        self.domain = domain
        self.role = role
        self.name = name
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self._session = session
        self._clock = clock
        self._stale: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"<Context {self.role.value} {self.domain.name}.{self.name}>"

    def now(self) -> datetime:
        """The current time (UTC) from the runtime's clock."""
        return self._clock.now()

    async def find(self, cls: type[A], id: str) -> A | None:
        """The aggregate with this id, or None."""
        await self._session.count_reads(cls, 1)
        return await self._session.load(cls, id)

    async def get(self, cls: type[A], id: str) -> A:
        """The aggregate with this id; raises NotFoundError when there is none."""
        await self._session.count_reads(cls, 1)
        found = await self._session.load(cls, id)
        if found is None:
            raise NotFoundError(cls.aggregate_name(), id)
        return found

    async def fresh(self, cls: type[A], id: str) -> A:
        """The aggregate, first brought up to date if a deferred notification left it pending.

        A pending update is retrieved from its source and applied by the declared command, committed as
        its own unit of work (so this works in a query too); concurrent calls for one resource make one
        fetch. When the source is down, the ``deferred(..., when_source_down=...)`` policy either serves
        the local copy and records it in :attr:`stale`, or raises SourceUnavailable. Raises NotFoundError
        when there is no copy (SourceUnavailable when there is none because the source is down). For an
        aggregate no deferred subscription keeps, or inside a consumer's batch, it is :meth:`get`.
        """
        stale = await self._session.refresh(cls, id, self)
        found = await self._session.load(cls, id)
        if found is None:
            if stale:
                raise SourceUnavailable(f"{cls.aggregate_name()} {id!r}: no local copy yet and its source is down")
            raise NotFoundError(cls.aggregate_name(), id)
        if stale:
            self._stale.append((cls.aggregate_name(), id))
        return found

    @property
    def stale(self) -> bool:
        """True when a :meth:`fresh` call of this run served a stale copy (its source was down)."""
        return bool(self._stale)

    @property
    def stale_reads(self) -> list[tuple[str, str]]:
        """(aggregate name, id) of every stale copy :meth:`fresh` served in this run."""
        return list(self._stale)

    async def list(
        self,
        cls: type[A],
        *,
        where: Mapping[str, FieldValue | None] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[A]:
        """A page of aggregates whose fields equal ``where`` (None values are ignored: no filter), in id
        order; pass the page's ``next_cursor`` back to get the next one.

        Every field in ``where`` must be declared ``Indexed()`` on the aggregate (ConfigurationError
        otherwise), so the page is one index range scan however many aggregates there are."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, got {limit}")
        filters = {k: v for k, v in (where or {}).items() if v is not None}
        unknown = sorted(set(filters) - set(cls.model_fields))
        if unknown:
            raise InvalidInput(f"{cls.__name__} has no field(s) {unknown} to filter on")
        if filters:
            self._indexed(cls, filters)
        after = decode_cursor(cursor) if cursor else None
        found = await self._session.list_aggregates(cls, filters, after, limit + 1)
        more = len(found) > limit
        items = found[:limit]
        await self._session.count_reads(cls, len(items))
        return Page[cls](items=items, next_cursor=encode_cursor(items[-1].id) if more else None)  # type: ignore[valid-type]

    async def replica(self, model: type[C], id: str) -> C | None:
        """This domain's copy of another domain's aggregate (a replica declared with ``model``), or None
        when it was never received or was deleted at the source."""
        self.domain.replica_for(model)
        await self._session.count_reads(model, 1)
        found = await self._session.load(model, id)
        return None if found is None or found.deleted else found

    async def replicas(
        self,
        model: type[C],
        *,
        where: Mapping[str, FieldValue | None] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[C]:
        """A page of a replica's live copies (no tombstones) whose fields equal ``where``, in id order."""
        self.domain.replica_for(model)
        return await self.list(model, where={**(where or {}), "deleted": False}, cursor=cursor, limit=limit)

    async def save(self, aggregate: Aggregate) -> None:
        """Stage the aggregate for writing when the command commits; its ``version`` goes up by one."""
        self._require_command("ctx.save()")
        self._no_replica(aggregate, "ctx.save()")
        self._session.stage_save(aggregate)

    async def delete(self, aggregate: Aggregate) -> None:
        """Stage the aggregate's removal (checked against its version) for when the command commits."""
        self._require_command("ctx.delete()")
        self._no_replica(aggregate, "ctx.delete()")
        self._session.stage_delete(aggregate)

    def emit(self, event: Event, *, about: Aggregate | None = None) -> None:
        """Publish a domain event through the outbox, in the command's transaction.

        ``about`` names the aggregate the event is about: it becomes the CloudEvents ``subject`` and keeps
        the events of one aggregate in order.
        """
        self._require_command("ctx.emit()")
        if event.owner() != self.domain.name:
            raise RuleViolation(
                f"{type(event).__name__} is declared by domain {event.owner()!r}; "
                f"domain {self.domain.name!r} emits only its own events"
            )
        self._session.stage_event(event, self, about)

    def send(self, command: Command, *, to: str, deadline: timedelta | datetime | None = None) -> None:
        """Send a command event to domain ``to`` through the outbox, in the command's transaction.

        With a ``deadline`` (a duration from now, or a time), this domain's reply handler for the command
        (``@domain.on_reply``) gets a timed-out reply once, if no reply came by then; without a reply
        handler, nobody waits for the reply and the deadline has no effect.
        """
        self._require_command("ctx.send()")
        if deadline is None:
            self._session.stage_command(command, to, self)
        else:
            when = self.now() + deadline if isinstance(deadline, timedelta) else deadline
            self._session.stage_request(command, to, self, when)

    async def start_saga(self, saga: Saga, data: Any) -> str:
        """Start a saga of this domain with ``data`` (its data model, or what validates as one); its first
        command is sent in the command's transaction. Returns the saga's id."""
        self._require_command("ctx.start_saga()")
        if saga.domain != self.domain.name:
            raise RuleViolation(f"saga {saga.name!r} belongs to domain {saga.domain!r}, not {self.domain.name!r}")
        return self._session.stage_saga(saga, saga.data_type.model_validate(data), self)

    async def fetch(self, service: ExternalService[T], **params: object) -> T:
        """Retrieve another domain's resource through its API and return it translated into this domain's
        model. Raises ExternalServiceError (status, URL, reason) when the source fails."""
        raw = await self._session.fetch(service, service.path(params), self)
        return service.translate(raw)

    @overload
    async def execute(self, command: Callable[[Context], Awaitable[R]], data: None = None) -> R: ...
    @overload
    async def execute(self, command: Callable[[Context, In], Awaitable[R]], data: In | Mapping[str, Any]) -> R: ...
    async def execute(self, command: Callable[..., Awaitable[R]], data: Any = None) -> R:
        """Run a command of this domain inside the current unit of work and return its result.

        ``data`` is the command's input: an instance of its input model (type-checked against the command's
        signature), or a mapping validated into it.
        """
        if self.role is Role.QUERY:
            raise RuleViolation(f"query {self.name!r} tried to run a command: {_WHY[Role.QUERY]}")
        spec = self.domain.spec_of(command)
        if not isinstance(spec, CommandSpec):
            raise RuleViolation(f"{getattr(command, '__name__', command)!r} is not a command of {self.domain}")
        child = self._child(Role.COMMAND, spec.name)
        if spec.input_type is None:
            return await command(child)
        return await command(child, spec.input_type.model_validate(data))

    async def call(self, service: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Run a domain service with a context that may run commands but not persist."""
        spec = self.domain.spec_of(service)
        if not isinstance(spec, ServiceSpec):
            raise RuleViolation(f"{getattr(service, '__name__', service)!r} is not a service of {self.domain}")
        return await service(self._child(Role.SERVICE, spec.name), *args, **kwargs)

    def _child(self, role: Role, name: str) -> Context:
        return Context(
            self.domain,
            self._session,
            role,
            name=name,
            clock=self._clock,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )

    def _indexed(self, cls: type[Aggregate], filters: Mapping[str, object]) -> None:
        # A list by a field the store keeps no index for would read every aggregate of the kind.
        check_filters(cls, filters)
        if cls not in self.domain.aggregates.values() and not any(
            spec.model is cls for spec in self.domain.replicas.values()
        ):
            raise ConfigurationError(
                f"{cls.__name__} is listed by {', '.join(sorted(filters))} but is not an aggregate of domain "
                f"{self.domain.name!r}, so its query fields are not indexed: declare it with "
                f"@{self.domain.name.replace('-', '_')}.aggregate"
            )

    def _no_replica(self, aggregate: Aggregate, what: str) -> None:
        # Only the producer's events change a replica; a local write would be overwritten or lost.
        if isinstance(aggregate, Replica):
            raise RuleViolation(
                f"{self.role.value} {self.name!r} called {what} on replica {type(aggregate).__name__}: "
                f"a replica changes only through its producer's events"
            )
        # The framework's other records (kinds starting with "~": a saga's state, an outstanding request, a
        # pending flag...) change only through the framework: a command that saved a saga's state it was
        # given would rewrite the saga's history under its feet.
        if aggregate.aggregate_name().startswith("~"):
            raise RuleViolation(
                f"{self.role.value} {self.name!r} called {what} on {type(aggregate).__name__}, a record the "
                f"framework keeps ({aggregate.aggregate_name()!r}): it is read-only to domain code"
            )

    def _require_command(self, what: str) -> None:
        if self.role is not Role.COMMAND:
            raise RuleViolation(f"{self.role.value} {self.name!r} called {what}: {_WHY[self.role]}")
