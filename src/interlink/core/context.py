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
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.core.declarations import CommandSpec, ServiceSpec
from interlink.core.external import ExternalService
from interlink.core.indexed import check_filters
from interlink.core.messages import Event
from interlink.core.pagination import Page, decode_cursor, encode_cursor
from interlink.exceptions import ConfigurationError, InvalidInput, NotFoundError, RuleViolation

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = ["Context", "FieldValue", "Refresher", "Role", "Session"]

FieldValue = str | int | bool

A = TypeVar("A", bound=Aggregate)
#: A command's input model.
In = TypeVar("In", bound=BaseModel)
R = TypeVar("R")
#: The context a command takes: this class, or one with the patterns' verbs (``interlink.Context``).
Ctx = TypeVar("Ctx", bound="Context")
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
    """What a context needs from the unit of work around it (implemented in ``interlink.delivery``).

    Loads and stages aggregates, messages and the framework's records; the patterns' verbs build on these.
    """

    async def load(self, cls: type[A], id: str) -> A | None: ...
    def stage_save(self, aggregate: Aggregate) -> None: ...
    def stage_delete(self, aggregate: Aggregate) -> None: ...
    def stage_event(self, event: Event, ctx: Context, about: Aggregate | None) -> None: ...
    def stage_message(
        self, message: BaseModel, fields: dict[str, object], about: Aggregate | None = None, channel: str | None = None
    ) -> None:
        """Stage any message with its envelope's fields (``type``, ``source``...) for the outbox."""
        ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what is staged here committed (never if it does not)."""
        ...

    async def load_record(self, kind: str, id: str) -> tuple[str, int] | None:
        """A framework record (a ``~`` kind) as (data JSON, version), or None."""
        ...

    def stage_record(self, kind: str, id: str, data: str | None, version: int, *, due_at: float | None = None) -> None:
        """Write (``data`` None: delete) a framework record read at ``version`` (0: new)."""
        ...

    async def fetch(self, service: ExternalService[Any], path: str, ctx: Context) -> Any: ...
    async def list_aggregates(
        self, cls: type[A], where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[A]: ...
    async def refresh(self, cls: type[Aggregate], id: str, ctx: Context) -> bool:
        """Bring a kept copy up to date before it is read, committed on its own (see ``ctx.fresh``);
        True when the copy is stale because its source is down."""
        ...

    async def count_reads(self, cls: type[Aggregate], n: int) -> None:
        """``n`` aggregates of ``cls`` were read (``interlink advise`` weighs the reads of kept copies)."""
        ...


class Refresher(Protocol):
    """Brings a kept copy up to date before it is read (a pattern implements it: deferred update)."""

    async def refresh(self, cls: type[Aggregate], id: str, correlation_id: str) -> bool:
        """Apply a pending update of ``cls`` ``id`` in its own committed unit of work; True when the copy
        is stale (the source was down and the policy serves the stale copy)."""
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
        #: (aggregate name, id) of every stale copy this run was served (see ``ctx.fresh``).
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

    async def save(self, aggregate: Aggregate) -> None:
        """Stage the aggregate for writing when the command commits; its ``version`` goes up by one."""
        # The two checks inline (each a call otherwise): save runs once per record of an inbound file.
        if self.role is not Role.COMMAND or self.domain.kind_of(type(aggregate)).startswith("~"):
            self._require_command("ctx.save()")
            self._no_framework_record(aggregate, "ctx.save()")
        self._session.stage_save(aggregate)

    async def delete(self, aggregate: Aggregate) -> None:
        """Stage the aggregate's removal (checked against its version) for when the command commits."""
        self._require_command("ctx.delete()")
        self._no_framework_record(aggregate, "ctx.delete()")
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

    async def fetch(self, service: ExternalService[T], **params: object) -> T:
        """Retrieve another domain's resource through its API and return it translated into this domain's
        model. Raises ExternalServiceError (status, URL, reason) when the source fails."""
        raw = await self._session.fetch(service, service.path(params), self)
        return service.translate(raw)

    @overload
    async def execute(self, command: Callable[[Ctx], Awaitable[R]], data: None = None) -> R: ...
    @overload
    async def execute(self, command: Callable[[Ctx, In], Awaitable[R]], data: In | Mapping[str, Any]) -> R: ...
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
        return type(self)(
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
        if cls not in self.domain.aggregates.values() and cls not in self.domain.stored_kinds:
            raise ConfigurationError(
                f"{cls.__name__} is listed by {', '.join(sorted(filters))} but is not an aggregate of domain "
                f"{self.domain.name!r}, so its query fields are not indexed: declare it with "
                f"@{self.domain.name.replace('-', '_')}.aggregate"
            )

    def _no_framework_record(self, aggregate: Aggregate, what: str) -> None:
        # The framework's records (kinds starting with "~": a replica's copy, a saga's state, a pending flag...)
        # change only through the framework: a local write to a replica would be overwritten or lost, and a
        # command that saved a saga's state it was given would rewrite the saga's history under its feet.
        kind = self.domain.kind_of(type(aggregate))
        if kind.startswith("~"):
            raise RuleViolation(
                f"{self.role.value} {self.name!r} called {what} on {type(aggregate).__name__}, a record the "
                f"framework keeps ({kind!r}): it changes only through the framework "
                f"(a replica through its producer's events), and is read-only to domain code"
            )

    def _require_command(self, what: str) -> None:
        if self.role is not Role.COMMAND:
            raise RuleViolation(f"{self.role.value} {self.name!r} called {what}: {_WHY[self.role]}")
