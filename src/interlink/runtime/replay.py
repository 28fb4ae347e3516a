"""Handling parked messages again (replay) or dropping them (discard), whether the domain runs or not.

A replay runs in the process that asks for it, with the domain's own dispatchers, external services and
committer; it does not hand the message back to the broker. The message's effects, its inbox mark and the
removal of its dead letter commit in one transaction, so the outcome is the same whether the domain's
runtime is stopped or running in other processes:

- a message the subscription's inbox holds already (a redelivery got through, or another replay won) is
  not handled again: only its dead letter is removed;
- two replays of one letter racing each other (two operators, or a replay and an automatic redrive) commit
  one of them; the other fails on the inbox mark or on a version it read, looks again, and finds the
  message processed;
- what the handling emits is staged in the outbox with the rest, and published by the replaying process
  (or, if the broker cannot take it now, by the domain's relay once it runs).

With order-preserving dead letters (``Domain(..., ordered_dead_letters=True)``) the letters of one
aggregate form a queue: the first blocks the ones ``held`` behind it. Replaying or discarding the first
makes the store release the next (in the same transaction); :meth:`Replayer.replay` and
:meth:`Replayer.discard` then hand the released letters to the handlers one by one, in order, until none is
left or one fails (it then blocks the rest, with its reason). A crash in between leaves the next letter
``released``: the domain's redrive task (or the next replay) carries on from it, and the inbox keeps a
letter that was handled already from being applied twice. A held letter is not replayed out of turn.

Letters that a part of Interlink parks under a name of its own rather than a consumer's subscription
(messages the broker refused to take, for instance) are replayed by the handler registered for that name
with :func:`register_replayer`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Literal

from interlink.core.domain import Domain
from interlink.delivery.crashpoints import crash_point
from interlink.delivery.retry import classify
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import AdapterError, ConcurrencyError, DuplicateMessage, PreconditionFailed
from interlink.ports.envelope import Envelope
from interlink.ports.store import HELD, RELEASED, AuditRecord, ChangeSet, DeadLetter, InboxMark, Store
from interlink.runtime.backends import open_broker, open_store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.settings import Settings

__all__ = [
    "LetterFilter",
    "Outcome",
    "ReplayHandler",
    "Replayer",
    "discard_letters",
    "find_letters",
    "register_replayer",
    "replaying",
    "unregister_replayer",
]

log = logging.getLogger("interlink.dead_letters")

#: ``replayed`` (handled now), ``processed`` (the inbox held it already: only the letter was removed),
#: ``gone`` (no such letter any more: replayed or discarded elsewhere).
Outcome = Literal["replayed", "processed", "gone"]

#: Replays one letter: commits its effects together with ``resolved_dead_letters=[letter.id]``.
ReplayHandler = Callable[[DomainRuntime, DeadLetter], Awaitable[None]]

_HANDLERS: dict[str, ReplayHandler] = {}


def register_replayer(subscription: str, handler: ReplayHandler) -> None:
    """Replay the letters parked under ``subscription`` with ``handler`` instead of the domain's dispatchers.

    For parts of Interlink that park what is not a consumed message under a name of their own; the handler
    must remove the letter in the same transaction as what it does, so a replay is never applied twice.
    """
    _HANDLERS[subscription] = handler


def unregister_replayer(subscription: str) -> None:
    """Undo :func:`register_replayer` (its letters are then dispatched like a consumer's)."""
    _HANDLERS.pop(subscription, None)


@dataclass(frozen=True)
class LetterFilter:
    """Which parked letters a bulk command takes: all of them, or those of one subscription and/or whose
    error contains some text (case-insensitive)."""

    subscription: str | None = None
    error_contains: str | None = None

    def matches(self, letter: DeadLetter) -> bool:
        """True when ``letter`` is selected."""
        if self.subscription is not None and letter.subscription != self.subscription:
            return False
        return self.error_contains is None or self.error_contains.casefold() in letter.error.casefold()


async def find_letters(store: Store, selection: LetterFilter, *, page: int = 1000) -> list[DeadLetter]:
    """Every parked letter ``selection`` takes, oldest first."""
    # The port lists the oldest letters up to a limit, without a cursor: widen until fewer come back.
    limit = page
    while True:
        letters = await store.dead_letters(selection.subscription, limit=limit)
        if len(letters) < limit:
            return [letter for letter in letters if selection.matches(letter)]
        limit *= 4


async def discard_letters(store: Store, letter_ids: Sequence[int], *, batch: int = 500) -> None:
    """Remove parked letters without handling them (ids that are gone already are ignored)."""
    for first in range(0, len(letter_ids), batch):
        await store.commit([ChangeSet(resolved_dead_letters=list(letter_ids[first : first + batch]))])


class Replayer:
    """Replays the parked letters of one domain through its runtime (started or only prepared)."""

    def __init__(self, runtime: DomainRuntime, *, attempts: int = 5) -> None:
        self.runtime = runtime
        self._attempts = attempts

    async def replay(
        self, letter_id: int, *, audit: Callable[[Outcome], AuditRecord] | None = None, body: bytes | None = None
    ) -> Outcome:
        """Handle a parked letter again, once; raises what the handling raised (the letter stays parked).

        A letter of an order-preserving subscription is replayed only in its turn (PreconditionFailed while an
        earlier letter of its aggregate is parked); once it is handled, the letters held behind it follow.
        ``audit`` makes the audit entry of the outcome, committed with the replay (in its transaction, but for
        letters of a registered replayer, whose own commit it follows); none when the letter is gone.
        ``body`` replaces the letter's message (an edited copy with its own message id): the copy is handled
        and marked in the inbox, and the original letter is removed in the same transaction.
        """
        letter = await self.runtime.store.dead_letter(letter_id)
        if letter is None:
            return "gone"
        key = letter.ordering_key
        if key is not None and letter.error_class == HELD:
            first = await self.runtime.store.letters_of_key(letter.subscription, key, 1)
            if first and first[0].id != letter_id:
                raise PreconditionFailed(
                    f"dead letter {letter_id} waits behind dead letter {first[0].id} of {key}: "
                    "replay or discard that one first"
                )
        try:
            outcome = await self._replay_retrying(letter_id, audit, body)
        except Exception as exc:
            if letter.error_class in (HELD, RELEASED):
                await self._block(letter, exc)
            raise
        if key is not None:
            await self.release(letter.subscription, key)
        return outcome

    async def discard(self, letter_ids: Sequence[int]) -> None:
        """Remove parked letters without handling them (see :func:`discard_letters`), then hand the letters
        they held back, in order, to the handlers."""
        letters = [await self.runtime.store.dead_letter(letter_id) for letter_id in letter_ids]
        await discard_letters(self.runtime.store, letter_ids)
        for subscription, key in sorted({(d.subscription, d.ordering_key) for d in letters if d and d.ordering_key}):
            await self.release(subscription, key)

    async def release(self, subscription: str, key: str) -> int:
        """Handle the released letters of one aggregate in order, until none is left or one fails (that one
        then blocks the rest, with its reason). Returns how many were handled; safe to repeat."""
        handled = 0
        while (first := await self.runtime.store.letters_of_key(subscription, key, 1)) and (
            first[0].error_class == RELEASED
        ):
            letter = first[0]
            assert letter.id is not None
            try:
                await self._replay_retrying(letter.id)
            except Exception as exc:
                await self._block(letter, exc)
                log.error("dead letter %d of %s failed when released; it holds the rest: %s", letter.id, key, exc)
                break
            handled += 1
            crash_point("replay.after_release")
        return handled

    async def _block(self, letter: DeadLetter, error: Exception) -> None:
        """A held letter failed in its turn: it stays first, with its reason, and holds the rest."""
        failed = replace(
            letter,
            id=None,
            error=f"{type(error).__name__}: {error}",
            error_class=classify(error),
            attempts=letter.attempts + 1,
            failed_at=self.runtime.clock.now(),
        )
        await self.runtime.committer.commit(ChangeSet(dead_letters=[failed]))

    async def _replay_retrying(
        self,
        letter_id: int,
        audit: Callable[[Outcome], AuditRecord] | None = None,
        body: bytes | None = None,
    ) -> Outcome:
        for attempt in range(1, self._attempts + 1):
            letter = await self.runtime.store.dead_letter(letter_id)
            if letter is None:
                return "gone"
            if body is not None:
                letter = replace(letter, body=body, message_id=Envelope.decode(body).id)
            try:
                return await self._replay(letter, audit)
            except ConcurrencyError:
                # Another process changed what the handling read (a running consumer, a deadline watch,
                # another replay): handle it again on the state as it is now.
                if attempt == self._attempts:
                    raise
                log.info("dead letter %d: state moved while it was replayed; attempt %d", letter_id, attempt + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _replay(self, letter: DeadLetter, audit: Callable[[Outcome], AuditRecord] | None) -> Outcome:
        assert letter.id is not None
        runtime = self.runtime
        handler = _HANDLERS.get(letter.subscription)
        if handler is not None:
            await handler(runtime, letter)
            if audit is not None:
                await runtime.committer.commit(ChangeSet(audit=[audit("replayed")]))
            return "replayed"
        envelope = Envelope.decode(letter.body)
        if await runtime.store.seen(letter.subscription, [envelope.id]):
            await self._resolve(letter.id, audit)
            return "processed"
        uow = UnitOfWork(
            runtime.domain,
            runtime.store,
            runtime.clock,
            traceparent=envelope.traceparent,
            external=runtime.external,
            refresher=runtime.refresher,
        )
        await runtime.dispatcher.dispatch(envelope, uow)
        change = uow.changes()
        change.inbox.append(InboxMark(letter.subscription, envelope.id))
        change.resolved_dead_letters.append(letter.id)
        change.audit.extend([audit("replayed")] if audit is not None else [])
        try:
            await runtime.committer.commit(change)
        except DuplicateMessage:
            # Processed meanwhile by another process: its effects stand, only the parked copy goes.
            await self._resolve(letter.id, audit)
            return "processed"
        return "replayed"

    async def _resolve(self, letter_id: int, audit: Callable[[Outcome], AuditRecord] | None = None) -> None:
        change = ChangeSet(resolved_dead_letters=[letter_id], audit=[audit("processed")] if audit is not None else [])
        await self.runtime.committer.commit(change)


@asynccontextmanager
async def replaying(domain: Domain, store_url: str, broker_url: str) -> AsyncIterator[Replayer]:
    """A replayer for ``domain`` outside its runtime: store, broker and external services connected, no
    consumer started and no subscription declared. Closed (deferred-read counters flushed) at the end.

    A broker that cannot be reached is not needed: the replays commit, and what they emit waits in the
    outbox (publishing it then raises the broker's error, for the caller to report)."""
    # No consumers: replaying takes no message from the broker, whoever else consumes the subscription.
    settings = Settings(store_url=store_url, broker_url=broker_url, consumers_per_domain=0)
    store, broker = open_store(store_url, domain.name), open_broker(broker_url)
    try:
        await broker.connect()
    except AdapterError as exc:
        # Replaying needs only the store: what it emits waits in the outbox for the domain's relay.
        log.warning("replaying without the broker (%s); what the replays emit stays in the outbox", exc)
    try:
        runtime = DomainRuntime(domain, store, broker, settings)
        try:
            await runtime.prepare()
            yield Replayer(runtime)
        finally:
            await runtime.stop()
    finally:
        await broker.close()
