"""The unit of work: reads through to the store, stages every change in memory, hands over one ChangeSet.

Nothing is written while domain code runs. Staging keeps SQLite's write lock (and PostgreSQL row locks)
out of business logic, and lets the committer group many units of work into one transaction. Optimistic
concurrency is checked when the change set is committed: a write names the version it expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.core.context import Context, FieldValue, Refresher
from interlink.core.domain import Domain
from interlink.core.external import ExternalService, ExternalServices
from interlink.core.messages import Event
from interlink.delivery.read_tally import ReadTally
from interlink.exceptions import (
    ConcurrencyError,
    ConfigurationError,
    MessageTooLarge,
    PreconditionFailed,
    RuleViolation,
)
from interlink.observability import messaging, tracing
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import channel_of, encode_trusted, new_message_id, ordering_key_of
from interlink.ports.store import AggregateWrite, ChangeSet, Store

__all__ = ["Overlay", "UnitOfWork"]

A = TypeVar("A", bound=Aggregate)
Key = tuple[str, str]


class Overlay:
    """Aggregate states staged by earlier units of work of one batch and not yet committed.

    A consumer handles a batch of messages and commits them together; the second message of a batch
    must see what the first one changed, so later units of work read through this overlay first.
    """

    def __init__(self) -> None:
        self._docs: dict[Key, tuple[tuple[str, int] | None, ChangeSet]] = {}

    def get(self, key: Key) -> tuple[tuple[str, int] | None, ChangeSet] | None:
        """((data, version), or None when deleted; the change set that wrote it) or None if unknown here."""
        return self._docs.get(key)

    def absorb(self, change: ChangeSet) -> None:
        """Record the writes of a unit of work whose handling succeeded."""
        self.record(change.writes, change)

    def record(self, writes: Iterable[AggregateWrite], writer: ChangeSet) -> None:
        """Record ``writes``, staged by a unit of work whose handling succeeded, as made by ``writer``."""
        docs = self._docs
        for w in writes:
            docs[(w.kind, w.id)] = ((w.data, w.new_version) if w.data is not None else None, writer)


@dataclass
class _StagedMessage:
    message: BaseModel
    envelope_fields: dict[str, object]
    about: Aggregate | None
    id: str
    channel: str


class UnitOfWork:
    """Implements the core's :class:`~interlink.core.context.Session` for one command or one message."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        clock: Clock,
        *,
        overlay: Overlay | None = None,
        traceparent: str | None = None,
        external: ExternalServices | None = None,
        refresher: Refresher | None = None,
        max_message_size: int | None = None,
        reads: ReadTally | None = None,
    ) -> None:
        self.domain = domain
        # The broker's limit: a message over it could never be published, so it is never committed.
        self._max_message_size = max_message_size
        self._store = store
        self._clock = clock
        self._overlay = overlay
        self._traceparent = traceparent
        self._external = external
        self._refresher = refresher
        self._reads = reads
        self._identity: dict[Key, Aggregate | None] = {}
        self._writes: dict[Key, AggregateWrite] = {}
        self._messages: list[_StagedMessage] = []
        self._depends_on: list[ChangeSet] = []
        self._after_commit: list[Callable[[], None]] = []
        self._precondition: tuple[str, int | None] | None = None

    async def load(self, cls: type[A], id: str) -> A | None:
        key = (self.domain.kind_of(cls), id)
        if key in self._identity:
            found = self._identity[key]
            if found is not None and not isinstance(found, cls):
                raise RuleViolation(f"{key[0]} {id!r} was loaded as {type(found).__name__}, not {cls.__name__}")
            return found
        doc: tuple[str, int] | None
        staged = self._overlay.get(key) if self._overlay else None
        if staged is None:
            stored = await self._store.load(*key)
            doc = (stored.data, stored.version) if stored else None
        else:
            doc, writer = staged
            if all(writer is not known for known in self._depends_on):
                self._depends_on.append(writer)
        aggregate = cls.model_validate_json(doc[0]).model_copy(update={"version": doc[1]}) if doc else None
        if self._precondition is not None and self._precondition[0] == id:
            expected = self._precondition[1]
            if aggregate is None or (expected is not None and aggregate.version != expected):
                state = "it does not exist" if aggregate is None else f"it is at version {aggregate.version}"
                wanted = "to exist" if expected is None else f"at version {expected}"
                raise PreconditionFailed(f"If-Match expected {key[0]} {id!r} {wanted}; {state}")
        self._identity[key] = aggregate
        return aggregate

    def stage_save(self, aggregate: Aggregate) -> None:
        key = (self.domain.kind_of(type(aggregate)), aggregate.id)
        expected = aggregate.version
        prior = self._writes.get(key)
        if prior is not None and prior.new_version != expected:
            raise ConcurrencyError(
                f"{key[0]} {aggregate.id!r} is saved at version {expected}, but this command already "
                f"moved it to version {prior.new_version}: save the object you loaded"
            )
        _set_version(aggregate, expected + 1)
        first_expected = prior.expected_version if prior else expected
        self._writes[key] = AggregateWrite(key[0], aggregate.id, first_expected, expected + 1, _json(aggregate))
        self._identity[key] = aggregate

    def stage_copy(self, copy: Aggregate, expected_version: int) -> None:
        """Stage an aggregate at its own version (``copy.version``: a copy follows another domain's versions,
        which skip), replacing the one stored at ``expected_version`` (0: none); ``stage_save`` would add 1."""
        key = (self.domain.kind_of(type(copy)), copy.id)
        prior = self._writes.get(key)
        first_expected = prior.expected_version if prior else expected_version
        self._writes[key] = AggregateWrite(key[0], copy.id, first_expected, copy.version, _json(copy))
        self._identity[key] = copy

    def stage_delete(self, aggregate: Aggregate) -> None:
        key = (self.domain.kind_of(type(aggregate)), aggregate.id)
        prior = self._writes.get(key)
        if prior is not None and prior.expected_version == 0:
            del self._writes[key]  # created and deleted in one command: nothing to write
        else:
            expected = prior.expected_version if prior else aggregate.version
            if expected == 0:
                raise ConcurrencyError(f"{key[0]} {aggregate.id!r} was never saved; there is nothing to delete")
            self._writes[key] = AggregateWrite(key[0], aggregate.id, expected, aggregate.version + 1, None)
        self._identity[key] = None

    def stage_event(self, event: Event, ctx: Context, about: Aggregate | None) -> None:
        fields: dict[str, object] = {"type": event.message_type()}
        self.stage_message(event, self._common(ctx) | fields, about)

    async def load_record(self, kind: str, id: str) -> tuple[str, int] | None:
        """A framework record (reserved kind, e.g. ``~saga``) as (data JSON, version), or None; sees what
        this unit of work and the batch before it staged."""
        key = (kind, id)
        if key in self._writes:
            write = self._writes[key]
            return (write.data, write.new_version) if write.data is not None else None
        staged = self._overlay.get(key) if self._overlay else None
        if staged is not None:
            doc, writer = staged
            if all(writer is not known for known in self._depends_on):
                self._depends_on.append(writer)
            return doc
        stored = await self._store.load(*key)
        return (stored.data, stored.version) if stored else None

    def stage_record(self, kind: str, id: str, data: str | None, version: int, *, due_at: float | None = None) -> None:
        """Write (``data`` None: delete) a framework record that was at ``version`` (0: new) when read;
        ``due_at`` (epoch seconds) is when it falls due for :meth:`Store.due` (None: never; a delete clears it)."""
        key = (kind, id)
        prior = self._writes.get(key)
        expected = prior.expected_version if prior else version
        self._writes[key] = AggregateWrite(kind, id, expected, version + 1, data, due_at)

    def discard(self) -> None:
        """Forget everything staged so far (a command handler failed for a business reason)."""
        self._identity.clear()
        self._writes.clear()
        self._messages.clear()
        self._after_commit.clear()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what is staged here committed (never if it does not)."""
        self._after_commit.append(callback)

    def expect(self, id: str, version: int | None) -> None:
        """If-Match: loading the aggregate with this id must find it at this version (None: find it at
        all), or PreconditionFailed."""
        self._precondition = (id, version)

    async def list_aggregates(
        self, cls: type[A], where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[A]:
        found = await self._store.list_aggregates(self.domain.kind_of(cls), where=where, after=after, limit=limit)
        return [
            cls.model_validate_json(stored.data).model_copy(update={"version": stored.version}) for _, stored in found
        ]

    async def fetch(self, service: ExternalService[Any], path: str, ctx: Context) -> Any:
        if self._external is None:
            raise ConfigurationError(f"no external services are configured to reach {service.name!r}")
        headers = {
            "X-Correlation-Id": ctx.correlation_id,
            "traceparent": tracing.child_traceparent(self._traceparent),
        }
        return await self._external.get(service, path, headers)

    async def count_reads(self, cls: type[Aggregate], n: int) -> None:
        if self._reads is not None:
            await self._reads.count(cls, n)

    async def refresh(self, cls: type[Aggregate], id: str, ctx: Context) -> bool:
        if self._refresher is None:
            return False  # no deferred subscriptions here (or inside a consumer batch): a plain read
        key = (self.domain.kind_of(cls), id)
        if key in self._writes:
            raise RuleViolation(f"ctx.fresh({cls.__name__}, {id!r}) after this command changed it: call it first")
        stale = await self._refresher.refresh(cls, id, ctx.correlation_id)
        # The update committed in its own unit of work: read it again rather than what was read before.
        self._identity.pop(key, None)
        return stale

    def _common(self, ctx: Context) -> dict[str, object]:
        return {
            "source": self.domain.name,
            "correlationid": ctx.correlation_id,
            "causationid": ctx.causation_id,
        }

    def stage_message(
        self, message: BaseModel, fields: dict[str, object], about: Aggregate | None = None, channel: str | None = None
    ) -> None:
        """Stage a message for the outbox with its envelope's ``fields`` (``type``, ``source``...): its id and
        channel are known now (``channel``, else the one its ``targetdomain`` or source publishes on), and its
        creation context (a ``create`` span while tracing is on) goes in its ``traceparent``."""
        message_id = new_message_id()
        target = fields.get("targetdomain")
        channel = channel or channel_of(self.domain.name, str(target) if target else None)
        fields["traceparent"] = messaging.message_created(
            self._traceparent, destination=channel, message_id=message_id, message_type=str(fields["type"]),
            conversation_id=str(fields.get("correlationid") or "") or None,
        )  # fmt: skip
        self._messages.append(_StagedMessage(message, fields, about, message_id, channel))

    @property
    def writes(self) -> list[AggregateWrite]:
        """The staged aggregate writes, one per aggregate."""
        return list(self._writes.values())

    def changes(self) -> ChangeSet:
        """Everything staged, with envelopes built now so they carry the aggregates' final versions.

        Raises MessageTooLarge when a message is over the broker's ``max_message_size``.
        """
        return ChangeSet(
            writes=self.writes,
            outbox=self._outbox(),
            depends_on=list(self._depends_on),
            after_commit=list(self._after_commit),
        )

    def collect(self, into: ChangeSet, overlay: Overlay) -> None:
        """Add everything staged to ``into``, a change set that commits with others of its batch as one (an
        inbound file's batch), and record the writes in ``overlay`` for the later units of work of the batch.

        What :meth:`changes` then ``into.writes += ...`` and ``overlay.absorb`` do, without a change set per
        unit of work: a batch that commits as one needs no ``depends_on`` between its members, and ``into`` is
        the writer the overlay names. Raises MessageTooLarge as :meth:`changes` does, before adding anything.
        """
        outbox = self._outbox() if self._messages else None
        writes = self._writes.values()
        into.writes += writes
        overlay.record(writes, into)
        if outbox:
            into.outbox += outbox
        if self._after_commit:
            into.after_commit += self._after_commit

    def _outbox(self) -> list[OutgoingMessage]:
        outbox: list[OutgoingMessage] = []
        if not self._messages:
            return outbox
        now = self._clock.now()
        for staged in self._messages:
            about = staged.about
            attributes = {
                "specversion": "1.0",
                "id": staged.id,
                "time": now,
                "datacontenttype": "application/json",
                "subject": about.id if about else None,
                "aggregateversion": about.version if about else None,
                **staged.envelope_fields,
            }
            message_type = str(attributes["type"])
            body = encode_trusted(attributes, staged.message.__pydantic_serializer__.to_json(staged.message))
            if self._max_message_size is not None and len(body) > self._max_message_size:
                raise MessageTooLarge(message_type, len(body), self._max_message_size)
            outbox.append(
                OutgoingMessage(
                    staged.id,
                    staged.channel,
                    message_type,
                    body,
                    ordering_key_of(message_type, about.id if about else None),
                )
            )
        return outbox


def _json(aggregate: Aggregate) -> str:
    # ``model_dump_json()`` with its defaults, without its dozen keyword arguments passed on per call.
    return aggregate.__pydantic_serializer__.to_json(aggregate).decode()


# Per aggregate class: may ``stage_save`` set ``version`` without pydantic's assignment validation? It is an
# int it computed (>= 1), so validating it checks nothing, unless the class validates more on assignment.
_PLAIN_VERSION: dict[type[Aggregate], bool] = {}


def _set_version(aggregate: Aggregate, version: int) -> None:
    """``aggregate.version = version``, without re-validating the model when nothing can object to it."""
    cls = type(aggregate)
    plain = _PLAIN_VERSION.get(cls)
    if plain is None:
        plain = _PLAIN_VERSION[cls] = _plain_version(cls)
    if plain:
        aggregate.__dict__["version"] = version
        aggregate.__pydantic_fields_set__.add("version")
    else:
        aggregate.version = version


def _plain_version(cls: type[Aggregate]) -> bool:
    # Model validators (run again on every validated assignment), a validator of ``version``, a frozen model,
    # an own ``__setattr__`` or a ``version`` that is not a plain int: keep pydantic's assignment.
    decorators = cls.__pydantic_decorators__
    field = cls.model_fields.get("version")
    return (
        not decorators.model_validators
        and not any({"version", "*"} & set(d.info.fields) for d in decorators.field_validators.values())
        and not cls.model_config.get("frozen")
        and cls.__setattr__ is BaseModel.__setattr__
        and field is not None
        and field.annotation is int
        and not field.frozen
    )
