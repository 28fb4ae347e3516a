"""The consumer loop: fetch a batch, dedupe through the inbox, handle, commit, then ack.

For each batch:

1. decode every delivery; one that is not a valid envelope is parked in dead letters at once;
2. ask the inbox which message ids this subscription processed already: those are acked, untouched;
3. handle the rest one by one, each in its own unit of work reading through the batch's overlay, so a
   message sees what the messages before it in the batch changed;
4. commit all successful change sets (each with its inbox mark) as one group, through the committer,
   which isolates a failing change set by replaying the group one by one;
5. ack what committed; hand failures back to the broker with a backoff delay, or park them in dead
   letters once their attempts are spent (a poison message never blocks the others).

A crash between 4 and 5 means redelivery; the inbox mark, committed with the effects, turns it into a
no-op. That is effectively-once: at-least-once delivery plus an idempotent receiver.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.delivery.committer import Committer
from interlink.delivery.crashpoints import crash_point
from interlink.delivery.dispatch import Dispatcher
from interlink.delivery.envelope import Envelope
from interlink.delivery.retry import RetryPolicy
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import (
    AdapterError,
    ConcurrencyError,
    DuplicateMessage,
    MalformedMessage,
    MessageError,
    StoreUnavailable,
)
from interlink.ports.broker import Broker, Delivery, Subscription
from interlink.ports.store import ChangeSet, DeadLetter, InboxMark, Store

__all__ = ["Consumer", "ConsumerStats"]

log = logging.getLogger("interlink.consumer")


@dataclass
class ConsumerStats:
    """What a consumer did since it started."""

    processed: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class _Work:
    delivery: Delivery
    change: ChangeSet
    error: Exception | None = None  # set when the change is a dead letter
    committed: bool = False  # its change set committed (or was found committed already)


class Consumer:
    """Consumes one subscription for one domain."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        broker: Broker,
        committer: Committer,
        subscription: Subscription,
        dispatcher: Dispatcher,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 200,
        fetch_wait: float = 0.5,
        external: ExternalServices | None = None,
    ) -> None:
        self.domain = domain
        self.subscription = subscription
        self.policy = policy or RetryPolicy()
        self.stats = ConsumerStats()
        self._store = store
        self._broker = broker
        self._committer = committer
        self._dispatcher = dispatcher
        self._clock = clock
        self._batch_size = batch_size
        self._fetch_wait = fetch_wait
        self._external = external
        self._stopping = False
        self._outages: dict[str, int] = {}

    def stop(self) -> None:
        """Take no new batch; :meth:`run` returns once the batch in hand is committed and acked."""
        self._stopping = True

    async def run(self) -> None:
        """Fetch and process batches until :meth:`stop`.

        The acks of a committed batch travel while the next batch is fetched (one ack batch in flight at
        most): they only have to follow the commit, not precede the next fetch.
        """
        self._stopping = False
        acking: asyncio.Task[None] | None = None
        while not self._stopping:
            try:
                deliveries = await self._broker.fetch(self.subscription.name, self._batch_size, self._fetch_wait)
                if deliveries:
                    acks, retries = await self._handle(deliveries)
                    if acking is not None:
                        await acking
                    acking = asyncio.create_task(self._acknowledge(acks, retries))
            except AdapterError as exc:
                # Unacked deliveries come back after the visibility timeout; nothing is lost by waiting.
                acking = None
                log.warning("consumer %s: %s", self.subscription.name, exc)
                await asyncio.sleep(1.0)
        if acking is not None:
            try:
                await acking
            except AdapterError as exc:
                log.warning("consumer %s: last acks failed (%s); those messages come back", self.subscription.name, exc)

    async def process(self, deliveries: list[Delivery]) -> None:
        """Handle one batch end to end (steps 1 to 5 of the module docstring), acks included."""
        await self._acknowledge(*await self._handle(deliveries))

    async def _handle(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[tuple[Delivery, Exception]]]:
        """Steps 1 to 4: what to ack and what to retry once the batch is committed."""
        self.stats.batches += 1
        decoded: list[tuple[Delivery, Envelope]] = []
        work: list[_Work] = []
        for d in deliveries:
            try:
                if d.defect is not None:  # the broker could not read it as a message of its own
                    raise MalformedMessage(d.defect)
                decoded.append((d, Envelope.decode(d.body)))
            except MessageError as exc:
                work.append(self._dead_letter(d, "?", exc))
        acks: list[Delivery] = []
        retries: list[tuple[Delivery, Exception]] = []
        try:
            seen = await self._store.seen(self.subscription.name, [e.id for _, e in decoded])
        except StoreUnavailable as exc:
            # Nothing ran yet: the whole batch comes back later without using up any message's attempts.
            for d in deliveries:
                self._outage(d)
                retries.append((d, exc))
            return acks, retries
        overlay = Overlay()
        in_batch: dict[str, _Work] = {}
        copies: list[tuple[Delivery, _Work]] = []
        for d, envelope in decoded:
            if envelope.id in seen:
                acks.append(d)
                self.stats.duplicates += 1
                continue
            if envelope.id in in_batch:
                # A second delivery of a message in hand. Its fate is the first one's, known only after the
                # commit: on brokers that ack by message (JetStream, Redis Streams) acking this copy now
                # would also settle the first, and lose the message if the first copy's commit failed.
                copies.append((d, in_batch[envelope.id]))
                continue
            uow = UnitOfWork(
                self.domain,
                self._store,
                self._clock,
                overlay=overlay,
                traceparent=envelope.traceparent,
                external=self._external,
            )
            try:
                await self._dispatcher.dispatch(envelope, uow)
            except MessageError as exc:
                work.append(self._dead_letter(d, envelope.type, exc))
                continue
            except StoreUnavailable as exc:
                # The handler's own read hit a store outage: not the message's fault.
                self._outage(d)
                retries.append((d, exc))
                continue
            except Exception as exc:
                self._count_error(exc)
                if self.policy.exhausted(self._handler_attempts(d)):
                    work.append(self._dead_letter(d, envelope.type, exc))
                else:
                    retries.append((d, exc))
                continue
            change = uow.changes()
            change.inbox.append(InboxMark(self.subscription.name, envelope.id))
            overlay.absorb(change)
            in_batch[envelope.id] = item = _Work(d, change)
            work.append(item)
        await self._commit(work, acks, retries)
        for copy, first in copies:
            if first.committed:
                acks.append(copy)
                self.stats.duplicates += 1
            else:
                retries.append((copy, ConcurrencyError("another delivery of this message failed to commit")))
        return acks, retries

    async def _commit(self, work: list[_Work], acks: list[Delivery], retries: list[tuple[Delivery, Exception]]) -> None:
        crash_point("consumer.before_commit")
        results = await self._committer.commit_many([w.change for w in work])
        crash_point("consumer.after_commit")
        for item, error in zip(work, results, strict=True):
            if error is None or isinstance(error, DuplicateMessage):
                item.committed = True
                acks.append(item.delivery)
                if isinstance(error, DuplicateMessage):
                    self.stats.duplicates += 1
                elif item.error is not None:
                    self.stats.dead_lettered += 1
                    log.error("dead letter %s: %s", item.delivery.message_id, item.error)
                else:
                    self.stats.processed += 1
            elif isinstance(error, AdapterError):
                # The store is down: not the message's fault, so it does not use up the message's attempts.
                self._outage(item.delivery)
                retries.append((item.delivery, error))
            else:
                self._count_error(error)
                retries.append((item.delivery, error))

    async def _acknowledge(self, acks: list[Delivery], retries: list[tuple[Delivery, Exception]]) -> None:
        """Step 5: ack what committed, hand failures back with a backoff delay."""
        await self._broker.ack(acks)
        self._settled(acks)
        for delivery, error in retries:
            self.stats.retried += 1
            delay = self.policy.delay(delivery.attempt)
            log.info("retry %s in %.2fs after attempt %d: %s", delivery.message_id, delay, delivery.attempt, error)
            await self._broker.retry(delivery, delay)

    def _dead_letter(self, delivery: Delivery, message_type: str, error: Exception) -> _Work:
        letter = DeadLetter(
            subscription=self.subscription.name,
            message_id=delivery.message_id,
            message_type=message_type,
            body=delivery.body,
            error=f"{type(error).__name__}: {error}",
            attempts=self._handler_attempts(delivery),
            failed_at=self._clock.now(),
        )
        return _Work(delivery, ChangeSet(dead_letters=[letter]), error)

    def _handler_attempts(self, delivery: Delivery) -> int:
        """Deliveries of this message that reached its handler: the broker's count less those lost to an
        outage of the store (remembered by this process; a restart forgets them, erring towards parking)."""
        return delivery.attempt - self._outages.get(delivery.message_id, 0)

    def _outage(self, delivery: Delivery) -> None:
        self._outages[delivery.message_id] = self._outages.get(delivery.message_id, 0) + 1

    def _settled(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._outages.pop(delivery.message_id, None)

    def _count_error(self, error: Exception) -> None:
        name = type(error).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
