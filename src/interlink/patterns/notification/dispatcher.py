"""Pattern 3: Event Capture -> Retrieve changed data -> Update Data, and the capture half of pattern 4.

Everything a notification changes goes through the message's unit of work, so it commits with the
inbox mark: the update command's writes, the resource's ``~pending`` record and the subscription's
``delivery-<token>`` counters. Failures use the consumer's retry policy: a source that cannot answer
(SourceUnavailable, ReadLag: transient) is retried on the policy's time budget without using up the
notification's attempts, and no earlier than an open circuit's trial call; other failures by their class.

Coalescing: the record keeps the version applied to the local copy. A notification at or below it makes
no fetch; since a fetch returns the source's current state, the first notification of a burst fetches
a version that covers the later ones, which then find it applied (within a batch through the batch's
overlay, across batches through the store).
"""

from __future__ import annotations

import json
import time
from typing import Any

from interlink.core.clock import Clock
from interlink.core.context import Context, Role
from interlink.core.declarations import CommandSpec
from interlink.core.domain import Domain
from interlink.core.messages import NotificationEvent
from interlink.delivery.dispatch import Dispatcher, read_event
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ExternalServiceError
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.notification.declarations import NotificationSpec, ReadLag, SourceUnavailable, notifications_of
from interlink.patterns.notification.records import Counters, ResourceSync, counter_records, sync_records
from interlink.ports.envelope import Envelope
from interlink.ports.ids import random_hex

__all__ = ["Fetched", "NotificationDispatcher", "fetch_resource", "run_command"]


class Fetched:
    """The translated data of one fetch, with its version and what the fetch cost."""

    def __init__(self, data: Any, version: int, seconds: float, size: int) -> None:
        self.data = data
        self.version = version
        self.seconds = seconds
        self.size = size


async def fetch_resource(spec: NotificationSpec, uow: UnitOfWork, ctx: Context, id: str) -> Fetched:
    """Retrieve the changed data through the subscription's External Service and translate it.

    Raises SourceUnavailable when the source cannot answer (no answer, a timeout, 429 or a 5xx) and the
    ExternalServiceError itself otherwise (404/410 included: the caller decides what gone means).
    """
    path = spec.fetch.path({"id": id})
    started = time.perf_counter()
    try:
        raw = await uow.fetch(spec.fetch, path, ctx)
    except ExternalServiceError as exc:
        if exc.retryable:
            unavailable = SourceUnavailable(f"source unavailable: {exc}")
            unavailable.retry_after = exc.retry_after  # an open circuit's remaining time: wait for its probe
            raise unavailable from exc
        raise
    seconds = time.perf_counter() - started
    data = spec.fetch.translate(raw)
    return Fetched(data, spec.version(data), seconds, len(json.dumps(raw, separators=(",", ":"))))


async def run_command(spec: NotificationSpec, command: CommandSpec, ctx: Context, data: Any) -> None:
    """Run the update (or gone) command with ``data`` in the context's unit of work."""
    await ctx.execute(command.func, spec.input_for(command, data))


def count_fetch(counters: Counters, fetched: Fetched) -> None:
    """Add one fetch to the counters."""
    counters.fetches += 1
    counters.fetch_seconds += fetched.seconds
    counters.payload_bytes += fetched.size


class NotificationDispatcher(Dispatcher):
    """Handles the notifications a domain subscribed to with ``on_notification`` or ``deferred``."""

    def __init__(self, domain: Domain, clock: Clock) -> None:
        self.domain = domain
        self._clock = clock
        # Every version the event can be upcast from routes here; read_event brings it to the current one.
        self._specs = {t: s for s in notifications_of(domain).values() for t in domain.upcasters.types(s.event_type)}
        # Each process keeps its own delivery counters, so processes consuming one subscription never
        # conflict on them (consumers of one process still share theirs).
        self._counters_id = f"delivery-{random_hex(8)}"
        #: Each subscription's pending flags and counters.
        self._records = {s.name: (sync_records(s.name), counter_records(s.name)) for s in self._specs.values()}

    def types(self) -> dict[str, str]:
        return {t: f"{s.event_type.owner()}.events" for t, s in self._specs.items()}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        spec = self._specs[envelope.type]
        event = read_event(self.domain, envelope, spec.event_type)
        ctx = self.domain.context_type(
            self.domain, uow, Role.HANDLER, name=spec.name, clock=self._clock,
            correlation_id=envelope.correlationid or envelope.id, causation_id=envelope.id,
        )  # fmt: skip
        syncs, counted = self._records[spec.name]
        sync = await syncs.load(uow, event.id) or ResourceSync(id=event.id)
        counters = await counted.load(uow, self._counters_id)
        if counters is None:
            counters = Counters(id=self._counters_id, since=self._clock.now())
        counters.received += 1
        if spec.deferred:
            self._flag(sync, event)
        elif event.version > sync.applied:
            await self._update(spec, ctx, uow, sync, counters, event)
            metrics.notification_fetched(uow, self.domain.name, spec.name, envelope.time, self._clock.now)
        # else: the local copy already has this version or a later one (coalesced): nothing to fetch.
        sync.notified = max(sync.notified, event.version)
        syncs.stage(uow, sync)
        counted.stage(uow, counters)

    def _flag(self, sync: ResourceSync, event: NotificationEvent) -> None:
        if event.version > sync.applied and not sync.pending:
            sync.pending = True
            sync.pending_since = self._clock.now()

    async def _update(
        self,
        spec: NotificationSpec,
        ctx: Context,
        uow: UnitOfWork,
        sync: ResourceSync,
        counters: Counters,
        event: NotificationEvent,
    ) -> None:
        try:
            fetched = await fetch_resource(spec, uow, ctx, event.id)
        except ExternalServiceError as exc:
            if not exc.gone:
                raise
            if spec.gone is not None:
                await run_command(spec, spec.gone, ctx, event.model_dump())
            sync.gone = True
            sync.applied = max(sync.applied, event.version)
            return
        count_fetch(counters, fetched)
        if fetched.version < event.version:
            raise ReadLag(
                f"{spec.fetch.name} answered {event.resource} {event.id!r} at version {fetched.version}, "
                f"older than the notified {event.version}; retrying later"
            )
        if fetched.version > sync.applied:
            await run_command(spec, spec.command, ctx, fetched.data)
            sync.applied = fetched.version
            sync.gone = False
