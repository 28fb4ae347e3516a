"""Event-Carried State Transfer: fat events that carry an aggregate's state, and the replicas they keep.

The producer declares an event that carries the state of one aggregate (or the subset of its fields the
event declares) with the aggregate's id and version, and emits it after each change::

    @loans.event
    class LoanRequestChanged(StateTransferEvent):
        amount: Decimal
        status: str

    ctx.emit(LoanRequestChanged.of(loan), about=loan)         # after ctx.save(loan)
    ctx.emit(LoanRequestChanged.tombstone(loan), about=loan)  # after ctx.delete(loan)

The consumer declares a replica model with only the fields it needs, and the framework keeps a local
copy (see :mod:`interlink.patterns.state_transfer`)::

    class LoanCopy(Replica):
        amount: Decimal

    credit.replica(LoanRequestChanged, model=LoanCopy)

A field the replica needs that the event does not carry is a ConfigurationError when it is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import ConfigDict, Field, ModelWrapValidatorHandler, create_model, model_validator

from interlink.core.aggregate import Aggregate
from interlink.core.external import ExternalService
from interlink.core.messages import PublicEvent
from interlink.exceptions import ConfigurationError

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = ["Replica", "ReplicaSpec", "StateTransferEvent", "replica_for", "replica_spec", "replicas_of"]

_ENVELOPE_FIELDS = frozenset({"id", "version", "deleted"})


def _tombstone_or_full(cls: type[Any], data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
    # A tombstone carries no state: build it without the state fields instead of failing on them.
    if isinstance(data, dict) and data.get("deleted") is True:
        known = {k: data[k] for k in ("id", "version") if k in data}
        if set(known) != {"id", "version"}:
            return handler(data)  # let validation name what is missing
        return cls.model_construct(id=str(known["id"]), version=int(known["version"]), deleted=True)
    return handler(data)


class StateTransferEvent(PublicEvent):
    """A fat public event: the state of one aggregate after a change, or its tombstone when deleted.

    ``id`` and ``version`` are the aggregate's; a consumer applies the event only when ``version`` is newer
    than its copy's, so duplicates, reordering and replays leave the copy on the latest state. A tombstone
    (``deleted=True``) carries no state fields: read them only when ``deleted`` is false.

    Ids must not be reused after a delete: a re-created aggregate starts again at version 1, below its
    tombstone, and its replicas would ignore it.
    """

    __pattern__: ClassVar[str | None] = "event-carried-state-transfer"
    __subscribed_pattern__: ClassVar[str | None] = "event-carried-state-transfer"

    id: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    deleted: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _tombstone(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        return _tombstone_or_full(cls, data, handler)  # type: ignore[no-any-return]

    @classmethod
    def state_fields(cls) -> list[str]:
        """The aggregate fields this event carries (every field but ``id``, ``version`` and ``deleted``)."""
        return [name for name in cls.model_fields if name not in _ENVELOPE_FIELDS]

    @classmethod
    def of(cls, aggregate: Aggregate) -> Self:
        """The event carrying ``aggregate``'s current state (the fields this event declares)."""
        missing = [f for f in cls.state_fields() if f not in type(aggregate).model_fields]
        if missing:
            raise ConfigurationError(
                f"{cls.__name__} carries field(s) {missing} that {type(aggregate).__name__} does not have"
            )
        if aggregate.version < 1:
            raise ConfigurationError(
                f"{cls.__name__}.of({type(aggregate).__name__} {aggregate.id!r}): save the aggregate first, "
                f"its version is still 0"
            )
        state = {f: getattr(aggregate, f) for f in cls.state_fields()}
        return cls(id=aggregate.id, version=aggregate.version, **state)

    @classmethod
    def tombstone(cls, aggregate: Aggregate) -> Self:
        """The event saying ``aggregate`` is deleted (by ``ctx.delete``, which moves it one version on)."""
        return cls.model_validate({"id": aggregate.id, "version": aggregate.version + 1, "deleted": True})


class Replica(Aggregate):
    """A consumer's local copy of another domain's aggregate: declare only the fields you need.

    ``version`` is the producer's version of the aggregate. A deleted aggregate stays as a tombstone
    (``deleted=True``) holding its version, so a late update cannot bring it back; the context's
    ``ctx.replica`` and ``ctx.replicas`` never return tombstones.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    deleted: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _tombstone(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        return _tombstone_or_full(cls, data, handler)  # type: ignore[no-any-return]

    @classmethod
    def state_fields(cls) -> list[str]:
        """The fields copied from the producer's event."""
        return [name for name in cls.model_fields if name not in _ENVELOPE_FIELDS]


@dataclass(frozen=True)
class ReplicaSpec:
    """A replica: the fat event that feeds it, the model it keeps, and where a rebuild reads from.

    ``source`` is an external service whose resource is the producer's list query answering a
    :class:`~interlink.core.pagination.Page` of aggregates (``?cursor=...&limit=...``).
    """

    name: str
    event: type[StateTransferEvent]
    model: type[Replica]
    source: ExternalService[Any] | None = None

    @property
    def kind(self) -> str:
        """The kind its records are filed under in the generic aggregates table."""
        return f"~replica:{self.name}"

    @property
    def fields_sent(self) -> list[str]:
        """The state fields the producer's event carries."""
        return self.event.state_fields()

    @property
    def fields_read(self) -> list[str]:
        """The state fields this replica keeps (a subset of :attr:`fields_sent`): how much of the payload is used."""
        return self.model.state_fields()

    def copy_of(self, event: StateTransferEvent) -> Replica:
        """The replica record an event leads to (a tombstone when the event is one)."""
        if event.deleted:
            return self.model.model_construct(id=event.id, version=event.version, deleted=True)
        return self.model.model_validate(
            {"id": event.id, "version": event.version, **{f: getattr(event, f) for f in self.model.state_fields()}}
        )


def replica_spec(
    domain: str,
    event: type[StateTransferEvent],
    *,
    model: type[Replica] | None,
    fields: list[str] | None,
    name: str | None,
    source: ExternalService[Any] | None,
) -> ReplicaSpec:
    """Check a replica declaration and build its spec; every field the replica needs must be sent."""
    if not (isinstance(event, type) and issubclass(event, StateTransferEvent)):
        raise ConfigurationError(f"replica of domain {domain!r}: {event!r} is not a StateTransferEvent")
    if (model is None) == (fields is None):
        raise ConfigurationError(
            f"replica of {event.__name__} in domain {domain!r}: give either model=<Replica class> or fields=[...]"
        )
    sent = event.state_fields()
    needed = list(fields) if fields is not None else model.state_fields() if model is not None else []
    missing = [f for f in needed if f not in sent]
    if missing:
        raise ConfigurationError(
            f"replica {name or event.message_name()!r} of domain {domain!r} needs field(s) {missing} that "
            f"{event.__name__} of domain {event.owner()!r} does not send (it sends {sent})"
        )
    if model is None:
        definitions: dict[str, Any] = {f: (event.model_fields[f].annotation, ...) for f in needed}
        model = create_model(f"{event.__name__}Copy", __base__=Replica, **definitions)
    elif not (isinstance(model, type) and issubclass(model, Replica)):
        raise ConfigurationError(f"replica of {event.__name__} in domain {domain!r}: {model!r} is not a Replica")
    return ReplicaSpec(name or f"{event.owner()}.{event.message_name()}", event, model, source)


def replicas_of(domain: Domain) -> dict[str, ReplicaSpec]:
    """The replicas declared on ``domain``, by name."""
    found: dict[str, ReplicaSpec] = domain.declarations.setdefault("replicas", {})
    return found


def replica_for(domain: Domain, model: type[Replica]) -> ReplicaSpec:
    """The replica a model backs; ConfigurationError when ``domain`` declares none for it."""
    for spec in replicas_of(domain).values():
        if spec.model is model:
            return spec
    raise ConfigurationError(
        f"{model.__name__} backs no replica of domain {domain.name!r}; declare it with "
        f"{domain.name}.replica(Event, model={model.__name__})"
    )
