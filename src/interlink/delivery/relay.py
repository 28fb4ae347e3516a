"""The relay: publishes outbox rows to the broker in batches, and forgets them only once confirmed.

It wakes when a commit in this process adds outbox rows; a poll interval is only the fallback for rows
committed by another process. Batches go out in commit order, one batch at a time, so the events of one
aggregate reach the broker in the order they were committed. A crash between publish and mark-sent
means the batch is published again: the broker's dedupe window and the consumers' inbox absorb that.

A message the broker refuses for good (:class:`~interlink.exceptions.MessageRefused`: over its size limit,
an address it cannot take) never stops the outbox: it is moved, in one transaction, to the domain's dead
letters with the broker's reason (subscription ``outbox:<channel>``, listed by ``interlink dead-letters
list``), and the batch goes out again without it. Messages committed after it, those of the same aggregate
included, are published meanwhile: their order among themselves is kept, but the parked one, put back into
the outbox by :meth:`Relay.replay_parked` once the broker's limit is raised, arrives after them. Consumers
never depend on the broker's order for correctness (aggregate versions and the inbox do that job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from interlink.delivery.committer import Committer
from interlink.delivery.crashpoints import crash_point
from interlink.exceptions import AdapterError, BrokerError, ConfigurationError, MessageError, MessageRefused
from interlink.observability import messaging
from interlink.observability.metrics import hooks as metrics
from interlink.ports.broker import Broker, OutgoingMessage
from interlink.ports.envelope import Envelope, ordering_key_of
from interlink.ports.store import AuditRecord, ChangeSet, DeadLetter, Store

__all__ = ["PARKED_PREFIX", "Relay", "is_parked_outbox", "requeue_parked"]

log = logging.getLogger("interlink.relay")

#: The dead letters of refused outbox messages carry ``outbox:<channel>`` as their subscription.
PARKED_PREFIX = "outbox:"


def is_parked_outbox(letter: DeadLetter) -> bool:
    """True for a message of this domain's outbox that the broker refused (not one a consumer parked)."""
    return letter.subscription.startswith(PARKED_PREFIX)


async def requeue_parked(
    store: Store,
    letter_id: int,
    committer: Committer | None = None,
    *,
    body: bytes | None = None,
    audit: AuditRecord | None = None,
) -> OutgoingMessage:
    """Put a parked outbox message back into the outbox, same id, and drop its dead letter: one transaction.

    Raises ConfigurationError when ``letter_id`` is no parked outbox message. The relay publishes it next,
    after the rows committed before this call. ``body`` replaces the message (an edited copy, with the
    message id it carries); ``audit`` is committed in the same transaction.
    """
    letter = await store.dead_letter(letter_id)
    if letter is None or not is_parked_outbox(letter):
        raise ConfigurationError(f"dead letter {letter_id} of domain {store.domain!r} is no parked outbox message")
    message_id, raw = letter.message_id, letter.body if body is None else body
    try:
        envelope = Envelope.decode(raw)
        ordering_key = ordering_key_of(envelope.type, envelope.subject)
        message_id = message_id if body is None else envelope.id
    except MessageError:
        ordering_key = None  # not ours to judge: the broker refused it for its size or address only
    channel = letter.subscription.removeprefix(PARKED_PREFIX)
    message = OutgoingMessage(message_id, channel, letter.message_type, raw, ordering_key)
    change = ChangeSet(outbox=[message], resolved_dead_letters=[letter_id], audit=[audit] if audit else [])
    await (committer.commit(change) if committer is not None else store.commit([change]))
    return message


class Relay:
    """Moves one store's outbox to the broker."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        error_backoff: float = 1.0,
        committer: Committer | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._error_backoff = error_backoff
        # With the domain's committer, removing confirmed rows joins the next group commit.
        self._committer = committer
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._refused: tuple[OutgoingMessage, MessageRefused] | None = None
        self.published = 0
        self.parked = 0
        self._system = messaging.system_of(broker)

    def wake(self) -> None:
        """New outbox rows were committed: publish them now rather than at the next poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish every row pending now; returns how many. Raises the adapter error that stopped it."""
        total = 0
        while True:
            try:
                count = await self._store.relay_batch(self._batch_size, self._publish, self._confirm)
            except MessageRefused:
                await self._park()
                continue  # the same batch again, without the refused message
            total += count
            self.published += count
            if count < self._batch_size:
                return total

    async def _confirm(self, seqs: list[int]) -> None:
        if self._committer is None:
            await self._store.mark_sent(seqs)
        else:
            await self._committer.commit(ChangeSet(outbox_sent=seqs))

    async def _publish(self, messages: list[OutgoingMessage]) -> None:
        crash_point("relay.before_publish")
        try:
            with messaging.sending(messages, self._system), metrics.publishing(self._broker.scheme, messages):
                await self._broker.publish(messages)
        except MessageRefused as exc:
            message = next((m for m in messages if m.message_id == exc.message_id), None)
            if message is None:
                # Not one of ours: parking nothing would retry the batch at once, forever. Back off instead.
                raise BrokerError(f"the broker refused {exc.message_id}, which is not in the batch: {exc}") from exc
            self._refused = (message, exc)
            raise
        crash_point("relay.after_publish")

    async def _park(self) -> None:
        """Move the message the broker refused from the outbox to the dead letters, with its reason."""
        assert self._refused is not None
        (message, exc), self._refused = self._refused, None
        letter = DeadLetter(
            subscription=f"{PARKED_PREFIX}{message.channel}",
            message_id=message.message_id,
            message_type=message.type,
            body=message.body,
            error=f"{type(exc).__name__}: {exc.reason}",
            attempts=1,
            failed_at=datetime.now(UTC),
        )
        if await self._store.park_outbox(letter):
            self.parked += 1
            log.error("relay: parked outbox message %s (%s) in dead letters: %s", message.message_id,
                      message.type, exc.reason)  # fmt: skip

    async def replay_parked(self, letter_id: int) -> None:
        """Put a parked outbox message back into the outbox and publish what is pending.

        Raises MessageRefused when the broker refuses it again (it is parked again, with a new id).
        """
        message = await requeue_parked(self._store, letter_id, self._committer)
        await self.publish_pending()
        parked = await self._store.dead_letters(f"{PARKED_PREFIX}{message.channel}", limit=10_000)
        again = next((letter for letter in parked if letter.message_id == message.message_id), None)
        if again is not None:
            raise MessageRefused(message.message_id, f"refused again, parked as dead letter {again.id}: {again.error}")

    def stop(self) -> None:
        """Finish the current batch, publish what is pending, and return from :meth:`run`."""
        self._stopping = True
        self._stop_event.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until :meth:`stop`, then once more so nothing committed is left behind."""
        self._stopping = False
        self._stop_event.clear()
        try:
            await self._store.watch_outbox(self.wake)
        except Exception as exc:  # the watch only saves latency: without it the relay polls
            log.warning("relay: outbox notifications unavailable (%s); polling every %.1fs", exc, self._poll_interval)
        while not self._stopping:
            self._wake.clear()
            try:
                await self.publish_pending()
            except AdapterError as exc:
                log.warning("relay: %s; retrying in %.1fs", exc, self._error_backoff)
                # Commits keep waking the relay; during an outage only stop() may cut the pause short.
                await _wait(self._stop_event, self._error_backoff)
                continue
            await _wait(self._wake, self._poll_interval)
        try:
            await self.publish_pending()
        except AdapterError as exc:
            log.warning("relay: could not flush the outbox at shutdown (%s); it is sent at next start", exc)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
