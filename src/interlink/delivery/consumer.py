"""The consumer loop: fetch a batch, dedupe through the inbox, handle, commit, then ack.

For each batch:

1. decode every delivery; one that is not a valid envelope is parked in dead letters at once;
2. ask the inbox which message ids this subscription processed already: those are acked, untouched;
3. handle the rest one by one, each in its own unit of work reading through the batch's overlay, so a
   message sees what the messages before it in the batch changed;
4. commit all successful change sets (each with its inbox mark) as one group, through the committer,
   which isolates a failing change set by replaying the group one by one;
5. ack what committed; hand failures back to the broker with a backoff delay, or park them in dead
   letters as their retry policy says (a poison message never blocks the others).

Each failure is judged by its class (:mod:`interlink.delivery.retry`): a transient one (an outage of a
source, the store or the broker) is retried on a time budget without using up the message's attempts,
a permanent one is parked at once, a poison one after its attempts. The policy is the one declared for
the message's type (``retry=``), else the runtime's.

With order-preserving dead letters (``Domain(..., ordered_dead_letters=True)``), a message whose aggregate
(CloudEvents source and subject) has a letter parked is not handled: it is parked behind it as ``held``, in
the same commit as the rest of the batch, and acked; so is every later message of the batch about an
aggregate whose message was parked earlier in it. :mod:`interlink.runtime.replay` releases them.

A crash between 4 and 5 means redelivery; the inbox mark, committed with the effects, turns it into a
no-op. That is effectively-once: at-least-once delivery plus an idempotent receiver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.delivery.committer import Committer
from interlink.delivery.consumer_stats import ConsumerStats
from interlink.delivery.consumer_work import Retry, Work
from interlink.delivery.crashpoints import crash_point
from interlink.delivery.dispatch import Dispatcher
from interlink.delivery.failures import dead_letter, letter_error
from interlink.delivery.holding import Holding
from interlink.delivery.retry import ErrorClass, FailureLedger, RetryPolicy, Verdict, classify
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import (
    AdapterError,
    ConcurrencyError,
    DuplicateMessage,
    MalformedMessage,
    MessageError,
    StoreUnavailable,
)
from interlink.observability import messaging
from interlink.observability.logs import bound
from interlink.observability.metrics import hooks as metrics
from interlink.ports.broker import Broker, Delivery, Subscription
from interlink.ports.envelope import Envelope
from interlink.ports.store import ChangeSet, InboxMark, Store

__all__ = ["Consumer", "ConsumerStats"]

log = logging.getLogger("interlink.consumer")


class Consumer:
    """Consumes one subscription for one domain.

    ``policy`` is the retry policy of every message type without one of its own in ``policies``
    (CloudEvents type -> policy).
    """

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
        policies: Mapping[str, RetryPolicy] | None = None,
        batch_size: int = 200,
        fetch_wait: float = 0.5,
        external: ExternalServices | None = None,
    ) -> None:
        self.domain = domain
        self.subscription = subscription
        self.policy = policy or RetryPolicy()
        self.policies = dict(policies or {})
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
        self._running = False
        self._ahead: asyncio.Task[list[Delivery]] | None = None
        self._holding = Holding(store, subscription.name, clock, enabled=domain.ordered_dead_letters)
        self.ledger = FailureLedger()
        self._spans = messaging.ConsumerSpans(subscription.name, subscription.channels, broker, dispatcher.types())

    def stop(self) -> None:
        """Take no new batch; :meth:`run` returns once the batch in hand is committed and acked."""
        self._stopping = True

    async def run(self) -> None:
        """Fetch and process batches until :meth:`stop`.

        The next batch is fetched while the one in hand commits (asked for once its handlers ran, so what
        arrived meanwhile comes as one batch), then looked up in the inbox and handled once that commit is
        done; the acks travel meanwhile (one batch of them in flight at most). A batch fetched ahead when
        :meth:`stop` comes is handled before this returns: nothing taken waits for a visibility timeout.
        """
        self._stopping, self._running = False, True
        acking: asyncio.Task[None] | None = None
        try:
            while self._ahead is not None or not self._stopping:
                try:
                    fetching, self._ahead = self._ahead or asyncio.create_task(self._receive()), None
                    deliveries = await fetching
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
        finally:
            self._running = False
            if self._ahead is not None:  # only when something unexpected ends the loop: what it took comes back
                self._ahead.cancel()
                self._ahead = None
        if acking is not None:
            try:
                await acking
            except AdapterError as exc:
                log.warning("consumer %s: last acks failed (%s); those messages come back", self.subscription.name, exc)

    def _read_ahead(self) -> None:
        """Ask for the next batch while this one commits (in :meth:`run`, not once stopping)."""
        if self._running and not self._stopping and self._ahead is None:
            self._ahead = asyncio.create_task(self._receive())

    async def _receive(self) -> list[Delivery]:
        started = messaging.receive_started()
        deliveries = await self._broker.fetch(self.subscription.name, self._batch_size, self._fetch_wait)
        self._spans.received(started, deliveries)
        return deliveries

    async def process(self, deliveries: list[Delivery]) -> None:
        """Handle one batch end to end (steps 1 to 5 of the module docstring), acks included."""
        await self._acknowledge(*await self._handle(deliveries))

    def policy_for(self, message_type: str) -> RetryPolicy:
        """The retry policy of a message type: its declaration's, else the consumer's default."""
        return self.policies.get(message_type, self.policy)

    async def _handle(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[Retry]]:
        """Steps 1 to 4: what to ack and what to retry once the batch is committed."""
        self.stats.batches += 1
        metrics.consumed(self._broker.scheme, self.subscription.name, len(deliveries))
        decoded: list[tuple[Delivery, Envelope]] = []
        work: list[Work] = []
        for d in deliveries:
            try:
                if d.defect is not None:  # the broker could not read it as a message of its own
                    raise MalformedMessage(d.defect)
                decoded.append((d, Envelope.decode(d.body)))
            except MessageError as exc:
                work.append(self._dead_letter(d, "?", exc, self._judge(d, exc, self.policy)))
        acks: list[Delivery] = []
        retries: list[Retry] = []
        try:
            seen = await self._store.seen(self.subscription.name, [e.id for _, e in decoded])
        except StoreUnavailable as exc:
            # Nothing ran yet: the batch comes back later without using up any message's attempts; the
            # undecodable ones too (their dead letters could not be written either).
            for d, envelope in decoded:
                self._retry_or_park(d, envelope.type, exc, self.policy_for(envelope.type), retries, work)
            for item in work:
                retries.append((item.delivery, exc, self.policy.delay(1)))
            return acks, retries
        overlay = Overlay()
        in_batch: dict[str, Work] = {}
        copies: list[tuple[Delivery, Work]] = []
        held = await self._held_keys(decoded, seen, retries, work)
        if held is None:
            return acks, retries
        for d, envelope in decoded:
            if envelope.id in seen:
                acks.append(d)
                self.stats.duplicates += 1
                metrics.processed(self.domain.name, self.subscription.name, "duplicate")
                continue
            if envelope.id in in_batch:
                # A second delivery of a message in hand. Its fate is the first one's, known only after the
                # commit: on brokers that ack by message (JetStream, Redis Streams) acking this copy now
                # would also settle the first, and lose the message if the first copy's commit failed.
                copies.append((d, in_batch[envelope.id]))
                continue
            key = self._holding.key(envelope)
            if key is not None and key in held:
                letter = ChangeSet(dead_letters=[self._holding.letter(d, envelope, key)])
                in_batch[envelope.id] = item = Work(d, letter, message_type=envelope.type, held=True)
                work.append(item)
                continue
            policy = self.policy_for(envelope.type)
            uow = UnitOfWork(
                self.domain,
                self._store,
                self._clock,
                overlay=overlay,
                traceparent=envelope.traceparent,
                external=self._external,
            )
            try:
                with (
                    bound(
                        domain=self.domain.name,
                        subscription=self.subscription.name,
                        message_id=envelope.id,
                        correlation_id=envelope.correlationid or envelope.id,
                        traceparent=envelope.traceparent,
                    ),
                    self._spans.processing(envelope, d.attempt),
                    metrics.processing(self._broker.scheme, self.subscription.name),
                ):
                    await self._dispatcher.dispatch(envelope, uow)
            except Exception as exc:
                # A store outage in the handler's own reads, a source that is down, a bad message, a bug:
                # the class of the error decides (see interlink.delivery.retry).
                self._count_error(exc)
                if self._retry_or_park(d, envelope.type, exc, policy, retries, work, key) and key is not None:
                    held.add(key)  # the later messages of this batch about it wait behind it
                continue
            change = uow.changes()
            change.inbox.append(InboxMark(self.subscription.name, envelope.id))
            overlay.absorb(change)
            in_batch[envelope.id] = item = Work(d, change, policy=policy, message_type=envelope.type, ordering_key=key)
            work.append(item)
        await self._commit(work, acks, retries)
        for copy, first in copies:
            if first.committed:
                acks.append(copy)
                self.stats.duplicates += 1
            else:
                error = ConcurrencyError("another delivery of this message failed to commit")
                retries.append((copy, error, (first.policy or self.policy).delay(1)))
        return acks, retries

    def _retry_or_park(
        self,
        delivery: Delivery,
        message_type: str,
        error: Exception,
        policy: RetryPolicy,
        retries: list[Retry],
        work: list[Work],
        ordering_key: str | None = None,
    ) -> bool:
        """Hand a failure back or park it, as its verdict says; True when it is parked."""
        verdict = self._judge(delivery, error, policy)
        if verdict.park:
            work.append(self._dead_letter(delivery, message_type, error, verdict, ordering_key))
        else:
            retries.append((delivery, error, verdict.delay))
        return verdict.park

    async def _held_keys(
        self, decoded: list[tuple[Delivery, Envelope]], seen: set[str], retries: list[Retry], work: list[Work]
    ) -> set[str] | None:
        """The aggregates of this batch with a letter parked; None when the store cannot tell: the batch then
        comes back whole, as if ``seen`` had failed."""
        try:
            return await self._holding.parked(e for _, e in decoded if e.id not in seen)
        except StoreUnavailable as exc:
            retries.extend((item.delivery, exc, self.policy.delay(1)) for item in work)
            retries.extend((d, exc, self.policy_for(e.type).delay(1)) for d, e in decoded)
            work.clear()
            return None

    def _judge(
        self, delivery: Delivery, error: Exception, policy: RetryPolicy, error_class: ErrorClass | None = None
    ) -> Verdict:
        verdict = self.ledger.judge(delivery.message_id, error, policy, self._clock.now().timestamp(), error_class)
        self.stats.failures[verdict.error_class] = self.stats.failures.get(verdict.error_class, 0) + 1
        return verdict

    async def _commit(self, work: list[Work], acks: list[Delivery], retries: list[Retry]) -> None:
        crash_point("consumer.before_commit")
        self._read_ahead()
        results = await self._committer.commit_many([w.change for w in work])
        crash_point("consumer.after_commit")
        parked = self._settle(work, results, acks, retries)
        if parked:
            # Failures of the commit itself whose budget is spent: their dead letters go in a commit of their own.
            self._settle(parked, await self._committer.commit_many([w.change for w in parked]), acks, retries)

    def _settle(
        self, work: list[Work], results: list[Exception | None], acks: list[Delivery], retries: list[Retry]
    ) -> list[Work]:
        """Sort the outcome of a commit into acks and retries; returns the dead letters still to commit."""
        parked: list[Work] = []
        for item, error in zip(work, results, strict=True):
            if error is None or isinstance(error, DuplicateMessage):
                item.committed = True
                acks.append(item.delivery)
                if isinstance(error, DuplicateMessage):
                    self.stats.duplicates += 1
                    metrics.processed(self.domain.name, self.subscription.name, "duplicate")
                elif item.held:
                    self.stats.held += 1
                elif item.error is not None:
                    self.stats.dead_lettered += 1
                    metrics.dead_lettered(self.domain.name, self.subscription.name, *letter_error(item.change))
                    # With its traceback: the operator who replays it first needs to know where it failed.
                    with bound(
                        domain=self.domain.name,
                        subscription=self.subscription.name,
                        message_id=item.delivery.message_id,
                    ):
                        log.error("dead letter %s: %s", item.delivery.message_id, item.error, exc_info=item.error)
                else:
                    self.stats.processed += 1
                    metrics.processed(self.domain.name, self.subscription.name, "success")
            else:
                # The store is down, or the commit lost a race with another writer: neither is the message's
                # fault, so both are transient (retried on the time budget, its attempts untouched); any
                # other failure of the commit counts as one of its attempts. A dead letter that could not
                # be written is simply handed back: it is judged again when it comes back.
                transient = isinstance(error, AdapterError | ConcurrencyError)
                if not transient:
                    self._count_error(error)
                policy = item.policy or self.policy
                if item.error is not None or item.held:
                    retries.append((item.delivery, error, policy.delay(1)))
                    continue
                verdict = self._judge(item.delivery, error, policy, "transient" if transient else None)
                if verdict.park:
                    parked.append(
                        self._dead_letter(item.delivery, item.message_type, error, verdict, item.ordering_key)
                    )
                else:
                    retries.append((item.delivery, error, verdict.delay))
        return parked

    async def _acknowledge(self, acks: list[Delivery], retries: list[Retry]) -> None:
        """Step 5: ack what committed, hand failures back with their delays."""
        with self._spans.settling("ack", acks), metrics.settling(self._broker.scheme, self.subscription.name):
            await self._broker.ack(acks)
        for delivery in acks:
            self.ledger.settled(delivery.message_id)
        for delivery, error, delay in retries:
            self.stats.retried += 1
            metrics.retried(self.domain.name, self.subscription.name, classify(error), error)
            with bound(domain=self.domain.name, subscription=self.subscription.name, message_id=delivery.message_id):
                log.info("retry %s in %.2fs (delivery %d): %s", delivery.message_id, delay, delivery.attempt, error)
            with self._spans.settling("retry", [delivery]):
                await self._broker.retry(delivery, delay)

    def _dead_letter(
        self,
        delivery: Delivery,
        message_type: str,
        error: Exception,
        verdict: Verdict,
        ordering_key: str | None = None,
    ) -> Work:
        letter = dead_letter(
            self.subscription.name, delivery, message_type, error, verdict, self._clock.now(), ordering_key
        )
        return Work(delivery, ChangeSet(dead_letters=[letter]), error, message_type=message_type)

    def _count_error(self, error: Exception) -> None:
        name = type(error).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
