"""One domain at run time: its store, its relay, its consumers, and the way in for commands and queries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from interlink.adapters.http import ClientPolicy, HttpExternalServices
from interlink.core.clock import Clock, SystemClock
from interlink.core.context import Context, Role
from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.core.indexed import declared_indexes
from interlink.core.messages import Event
from interlink.delivery.committer import Committer
from interlink.delivery.consumer import Consumer
from interlink.delivery.dispatch import CompositeDispatcher, Dispatcher, EventHandlerDispatcher
from interlink.delivery.flow_tally import FlowTally
from interlink.delivery.read_tally import ReadTally
from interlink.delivery.redrive import Redrive
from interlink.delivery.relay import Relay
from interlink.delivery.retry import RetryPolicy
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError
from interlink.observability import messaging, tracing
from interlink.patterns.pattern import Part
from interlink.patterns.registry import PATTERNS
from interlink.ports.broker import Broker, Subscription
from interlink.ports.ids import random_hex
from interlink.ports.store import ChangeSet, IdempotencyRecord, Store
from interlink.runtime.retention import Pruner, check_inbox_window, log_retention
from interlink.runtime.settings import Settings

__all__ = ["DomainRuntime"]

log = logging.getLogger("interlink.runtime")
R = TypeVar("R")
P = TypeVar("P", bound=Part)


class DomainRuntime:
    """Hosts one domain: runs its commands and queries, relays its outbox, consumes its subscription,
    redrives the letters its retry policy parked after a transient budget (see docs/resilience.md), and
    prunes its old framework records (see docs/retention.md)."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        broker: Broker,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        dispatchers: Sequence[Dispatcher] = (),
        external: ExternalServices | None = None,
    ) -> None:
        self.domain = domain
        self.store = store
        self._prepared = False
        self.broker = broker
        messaging.use_broker(broker)
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        self._owned_external: HttpExternalServices | None = None
        if external is None and domain.external_services:
            urls = {k: v for k, v in self.settings.service_urls.items() if k in domain.external_services}
            circuit = ClientPolicy(
                failure_threshold=self.settings.circuit_threshold, cooldown=self.settings.circuit_cooldown
            )
            external = self._owned_external = HttpExternalServices(
                list(domain.external_services.values()), base_urls=urls, policy=circuit
            )
        self.external = external
        self._commit_listeners: list[Callable[[Sequence[ChangeSet]], None]] = []
        self.committer = Committer(store, on_commit=self._committed)
        #: Counts what the commits put in the outbox, per type and minute, into the store (the console's rates).
        self.flow_tally = FlowTally(store, self.committer, self.clock)
        self.relay = Relay(
            store,
            broker,
            batch_size=self.settings.relay_batch,
            poll_interval=self.settings.relay_poll_interval,
            committer=self.committer,
        )
        #: What each pattern runs in this domain (dispatchers, background work, ctx.fresh), in the order of
        #: the registration list.
        self.parts: list[Part] = [part for pattern in PATTERNS for part in pattern.parts(self)]
        #: Serves ctx.fresh for the domain's notification subscriptions (None when no pattern offers one).
        self.refresher = next((p.refresher for p in self.parts if p.refresher is not None), None)
        #: Counts the reads of the copies kept from other domains, for ``interlink advise``.
        kept = {model: domain.kind_of(model) for part in self.parts for model in part.kept}
        self.read_tally = ReadTally(store, self.committer, self.clock, kept) if kept else None
        absorbed = frozenset(event for part in self.parts for event in part.absorbs)
        self.dispatcher = CompositeDispatcher(
            [
                EventHandlerDispatcher(domain, self.clock, absorbed=absorbed),
                *(d for part in self.parts for d in part.dispatchers),
                *dispatchers,
            ]
        )
        types = self.dispatcher.types()
        self.subscription = Subscription(
            name=domain.name, channels=tuple(sorted(set(types.values()))), types=frozenset(types)
        )
        #: The retry policy declared for each CloudEvents type (every version an event is read from).
        self.retry_policies = {
            type_: policy
            for message_type, policy in domain.retry_policies.items()
            for type_ in (
                domain.upcasters.types(message_type)
                if issubclass(message_type, Event)
                else [message_type.message_type()]
            )
        }
        self.consumers = [
            Consumer(
                domain,
                store,
                broker,
                self.committer,
                self.subscription,
                self.dispatcher,
                self.clock,
                policy=self.settings.retry,
                policies=self.retry_policies,
                batch_size=self.settings.consumer_batch,
                fetch_wait=self.settings.fetch_wait,
                external=external,
            )
            for _ in range(self.settings.consumers_per_domain if types else 0)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        interval = self.settings.redrive_interval
        #: Hands letters parked after a transient budget back to their handlers (None: no subscription, or off).
        self.redrive = (
            Redrive(
                store, self.committer, domain.name, self.replay_dead_letter, self.policy_for, self.clock,
                interval=interval,
            )
            if self.consumers and interval is not None
            else None
        )  # fmt: skip
        self._redrive_task: asyncio.Task[None] | None = None
        retention = self.settings.retention
        if self.consumers:
            check_inbox_window(retention, broker, domain.name)
        #: Prunes old inbox marks, idempotency keys, stored replies, ended sagas and counters (None: off).
        self.pruner = Pruner(store, retention, domain.name) if retention.interval is not None else None
        self._prune_task: asyncio.Task[None] | None = None

    def policy_for(self, message_type: str) -> RetryPolicy:
        """The retry policy of a CloudEvents type: its declaration's, else the settings'."""
        return self.retry_policies.get(message_type, self.settings.retry)

    def on_commit(self, listener: Callable[[Sequence[ChangeSet]], None]) -> None:
        """Call ``listener`` with each group of change sets once it committed (the console's message rates)."""
        self._commit_listeners.append(listener)

    def _committed(self, changes: Sequence[ChangeSet]) -> None:
        if any(change.outbox for change in changes):
            self.relay.wake()
            self.flow_tally.committed(changes)
        for listener in self._commit_listeners:
            listener(changes)

    # -- lifecycle ---------------------------------------------------------------------------------

    def part(self, kind: type[P]) -> P | None:
        """This domain's part of a pattern, by its class (None when the domain declares none of it)."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    async def prepare(self) -> None:
        """Connect the store and declare the subscription (idempotent), without starting any work."""
        await self.store.connect()
        await self.store.ensure_query_indexes(declared_indexes(self.domain))
        if self._owned_external is not None:
            await self._owned_external.connect()
        if self.consumers:
            await self.broker.subscribe(self.subscription)
        self._prepared = True

    async def start(self) -> None:
        """Prepare (unless :meth:`prepare` already ran, under the start-up waits), then start the relay and the
        consumers."""
        if not self._prepared:
            await self.prepare()
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{self.domain.name}-relay")]
        self._tasks += [
            asyncio.create_task(c.run(), name=f"{self.domain.name}-consumer-{i}") for i, c in enumerate(self.consumers)
        ]
        for part in self.parts:
            await part.start()
        if self.redrive is not None:
            self._redrive_task = self.redrive.start(f"{self.domain.name}-redrive")
        log_retention(self.domain.name, self.settings.retention)
        if self.pruner is not None:
            self._prune_task = self.pruner.start(f"{self.domain.name}-retention")

    async def stop(self) -> None:
        """Stop taking messages, finish those in hand, flush the outbox, close the store."""
        self._prepared = False
        for part in reversed(self.parts):
            await part.stop()
        if self.redrive is not None and self._redrive_task is not None:
            self.redrive.stop()
            await asyncio.gather(self._redrive_task, return_exceptions=True)
            self._redrive_task = None
        if self.pruner is not None and self._prune_task is not None:
            self.pruner.stop()
            await asyncio.gather(self._prune_task, return_exceptions=True)
            self._prune_task = None
        for consumer in self.consumers:
            consumer.stop()
        consumer_tasks, relay_task = self._tasks[1:], self._tasks[:1]
        await asyncio.gather(*consumer_tasks, return_exceptions=True)
        self.relay.stop()
        await asyncio.gather(*relay_task, return_exceptions=True)
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception():
                log.error("%s ended with %r", task.get_name(), task.exception())
        self._tasks = []
        for part in self.parts:
            await part.flush()
        if self.read_tally is not None:
            await self.read_tally.flush()
        await self.flow_tally.close()
        if self._owned_external is not None:
            await self._owned_external.close()
        await self.store.close()

    async def detach(self) -> None:
        """Flush the deferred-read and flow counters and close the external services, leaving the store and broker as
        they are: the end of a runtime made only to replay over a store its caller owns (see
        :class:`interlink.operations.Operations`)."""
        for part in self.parts:
            await part.flush()
        await self.flow_tally.close()
        if self._owned_external is not None:
            await self._owned_external.close()

    # -- the way in ------------------------------------------------------------------------------

    async def execute(
        self,
        command: Callable[..., Awaitable[R]],
        data: Any = None,
        *,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        expect: tuple[str, int | None] | None = None,
        finish: Callable[[R], IdempotencyRecord] | None = None,
    ) -> R:
        """Run a command in one transaction: its writes and its outbox rows commit together or not at all.

        ``expect`` is an If-Match precondition (aggregate id, version); ``finish`` builds the record of an
        Idempotency-Key request from the result, committed in the same transaction as the effects.
        """
        spec = self.domain.spec_of(command)
        if not isinstance(spec, CommandSpec):
            raise ConfigurationError(f"{getattr(command, '__name__', command)!r} is not a command of {self.domain}")
        uow = self._unit_of_work(traceparent)
        if expect is not None:
            uow.expect(*expect)
        ctx = self._context(uow, Role.COMMAND, spec.name, correlation_id)
        with tracing.command(self.domain.name, spec.name, traceparent):
            if spec.input_type is None:
                result = await command(ctx)
            else:
                result = await command(ctx, _input(spec.input_type, data))
            change = uow.changes()
            if finish is not None:
                change.idempotency = finish(result)
            await self.committer.commit(change)
        return result

    async def query(
        self,
        query: Callable[..., Awaitable[R]],
        *,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        **params: Any,
    ) -> R:
        """Run a query; it can read but not change anything."""
        spec = self.domain.spec_of(query)
        if not isinstance(spec, QuerySpec):
            raise ConfigurationError(f"{getattr(query, '__name__', query)!r} is not a query of {self.domain}")
        uow = self._unit_of_work(traceparent)
        with tracing.query(self.domain.name, spec.name, traceparent):
            return await query(self._context(uow, Role.QUERY, spec.name, correlation_id), **params)

    def _unit_of_work(self, traceparent: str | None = None) -> UnitOfWork:
        return UnitOfWork(
            self.domain,
            self.store,
            self.clock,
            traceparent=traceparent,
            external=self.external,
            refresher=self.refresher,
            max_message_size=self.broker.max_message_size,
            reads=self.read_tally,
        )

    async def replay_dead_letter(self, letter_id: int) -> None:
        """Handle a parked message again, once (see :mod:`interlink.runtime.replay`)."""
        from interlink.runtime.replay import Replayer  # it builds on this module

        if await Replayer(self).replay(letter_id) == "gone":
            raise ConfigurationError(f"no dead letter {letter_id} in domain {self.domain.name!r}")

    def _context(self, uow: UnitOfWork, role: Role, name: str, correlation_id: str | None) -> Context:
        return self.domain.context_type(
            self.domain,
            uow,
            role,
            name=name,
            clock=self.clock,
            correlation_id=correlation_id or random_hex(16),
        )


def _input(model: type[BaseModel], data: Any) -> BaseModel:
    """``data`` as the command's input: validated, unless it is an instance of the input model already (what
    the HTTP route validated), which pydantic would hand back as it is anyway."""
    if type(data) is model and model.model_config.get("revalidate_instances", "never") == "never":
        return data
    return model.model_validate(data)
