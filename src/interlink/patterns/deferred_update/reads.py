"""``ctx.fresh`` reads through the pending flag of a deferred subscription.

A read of a pending resource retrieves the changed data, runs the update command, and clears the flag,
all in one unit of work of its own, committed before the read returns (a query cannot persist, so the
update does not ride on the query). Single flight: concurrent reads of one resource in this process wait
for one fetch; across processes, the flag's version makes a second refresh fail its commit, and it then
finds the flag cleared.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.core.context import Role
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.delivery.committer import Committer
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConcurrencyError, ExternalServiceError
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.notification.declarations import NotificationSpec, ReadLag, SourceUnavailable, notifications_of
from interlink.patterns.notification.dispatcher import count_fetch, fetch_resource, run_command
from interlink.patterns.notification.records import Counters, counter_records, sync_records
from interlink.ports.ids import random_hex
from interlink.ports.store import AggregateWrite, ChangeSet, Store

__all__ = ["DeferredReads"]

log = logging.getLogger("interlink.notification")

_ATTEMPTS = 5  # refreshes that lose a commit race look again; a flag moving that often is a hot loop


class DeferredReads:
    """Implements the core's Refresher for one domain; counts reads, flushes its counters to the store."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        committer: Committer,
        clock: Clock,
        external: ExternalServices | None,
        *,
        flush_interval: float = 1.0,
    ) -> None:
        self.domain = domain
        self._store = store
        self._committer = committer
        self._clock = clock
        self._external = external
        self._flush_interval = flush_interval
        self._specs = {s.aggregate.aggregate_name(): s for s in notifications_of(domain).values() if s.aggregate}
        self._flights: dict[tuple[str, str], asyncio.Task[bool]] = {}
        # Totals of this process, flushed as absolute values: a lost flush is repaired by the next one.
        self._token = f"reads-{random_hex(8)}"
        self._counters = {name: Counters(id=self._token) for name in notifications_of(domain)}
        self._dirty = False
        self._flushed_at = 0.0
        self._flush_lock = asyncio.Lock()

    async def refresh(self, cls: type[Aggregate], id: str, correlation_id: str) -> bool:
        spec = self._specs.get(cls.aggregate_name())
        if spec is None:
            return False  # not a copy kept from notifications: a plain read
        counters = self._counters[spec.name]
        counters.served += 1
        if counters.since is None:
            counters.since = self._clock.now()
        self._dirty = True
        stale = await self._single_flight(spec, id, correlation_id) if spec.deferred else False
        if stale:
            counters.stale += 1
        await self.flush(force=False)
        return stale

    async def _single_flight(self, spec: NotificationSpec, id: str, correlation_id: str) -> bool:
        key = (spec.name, id)
        flight = self._flights.get(key)
        if flight is None:
            # A task of its own: a caller that gives up (a cancelled request) does not cancel the others' fetch.
            flight = asyncio.create_task(self._refresh(spec, id, correlation_id), name=f"refresh {spec.name} {id}")
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    def _landed(self, key: tuple[str, str], flight: asyncio.Task[bool]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: every caller may have given up before it landed

    async def _refresh(self, spec: NotificationSpec, id: str, correlation_id: str) -> bool:
        records = sync_records(spec.name)
        for _ in range(_ATTEMPTS):
            uow = UnitOfWork(self.domain, self._store, self._clock, external=self._external)
            sync = await records.load(uow, id)
            if sync is None or not sync.pending:
                metrics.deferred_read(self.domain.name, spec.name, "current")
                return False
            ctx = self.domain.context_type(
                self.domain, uow, Role.HANDLER, name=spec.name, clock=self._clock, correlation_id=correlation_id
            )
            try:
                fetched = await fetch_resource(spec, uow, ctx, id)
            except SourceUnavailable as exc:
                if spec.when_source_down == "stale":
                    log.warning("serving stale %s %r: %s", spec.aggregate, id, exc)
                    metrics.deferred_read(self.domain.name, spec.name, "stale", sync.pending_since, self._clock.now)
                    return True
                raise SourceUnavailable(
                    f"{spec.name}: {id!r} has an update pending and its source is unavailable ({exc})"
                ) from exc
            except ExternalServiceError as exc:
                if not exc.gone:
                    raise
                if spec.gone is not None:
                    await run_command(spec, spec.gone, ctx, _gone_input(spec, id, sync.notified))
                sync.gone, sync.pending, sync.pending_since = True, False, None
                sync.applied = max(sync.applied, sync.notified)
                fetched = None
            if fetched is not None:
                count_fetch(self._counters[spec.name], fetched)
                self._dirty = True  # a flush may have run since this read was counted: write the fetch too
                if fetched.version > sync.applied:
                    await run_command(spec, spec.command, ctx, fetched.data)
                    sync.applied, sync.gone = fetched.version, False
                if sync.applied >= sync.notified:
                    sync.pending, sync.pending_since = False, None
            records.stage(uow, sync)
            try:
                await self._committer.commit(uow.changes())
            except ConcurrencyError:
                continue  # a notification or another process moved the flag: look again
            metrics.deferred_read(
                self.domain.name, spec.name, "stale" if sync.pending else "fresh", sync.pending_since, self._clock.now
            )
            if sync.pending:  # the source still lags behind the notified version
                if spec.when_source_down == "stale":
                    return True
                raise ReadLag(f"{spec.name}: the source of {id!r} answers an older version than notified")
            return False
        raise ConcurrencyError(f"{spec.name}: {id!r} kept changing while it was refreshed; try again")

    async def flush(self, *, force: bool = True) -> None:
        """Write this process's read counters (absolute totals) to the store, if they changed; without
        ``force`` at most once per flush interval."""
        now = asyncio.get_running_loop().time()
        if not self._dirty or (not force and now - self._flushed_at < self._flush_interval):
            return
        async with self._flush_lock:
            if not self._dirty:
                return
            self._dirty = False
            self._flushed_at = now
            try:
                await self._committer.commit(ChangeSet(writes=await self._counter_writes()))
            except Exception as exc:  # counters are advisory: a failed flush is repaired by the next one
                self._dirty = True
                log.warning("could not write read counters: %s", exc)

    async def _counter_writes(self) -> list[AggregateWrite]:
        writes: list[AggregateWrite] = []
        for name, counters in self._counters.items():
            if counters.since is None:
                continue
            records = counter_records(name)
            stored = await self._store.load(records.kind, counters.id)
            counters.version = stored.version if stored else 0
            uow = UnitOfWork(self.domain, self._store, self._clock)
            records.stage(uow, counters.model_copy())
            writes.extend(uow.writes)
        return writes


def _gone_input(spec: NotificationSpec, id: str, version: int) -> dict[str, Any]:
    resource = spec.aggregate.aggregate_name() if spec.aggregate else spec.event_type.__name__
    return {"resource": resource, "id": id, "version": version, "path": spec.fetch.path({"id": id})}
