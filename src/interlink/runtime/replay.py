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

Letters that a part of Interlink parks under a name of its own rather than a consumer's subscription
(messages the broker refused to take, for instance) are replayed by the handler registered for that name
with :func:`register_replayer`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from interlink.core.domain import Domain
from interlink.delivery.envelope import Envelope
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import AdapterError, ConcurrencyError, DuplicateMessage
from interlink.ports.store import ChangeSet, DeadLetter, InboxMark, Store
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

    async def replay(self, letter_id: int) -> Outcome:
        """Handle a parked letter again, once; raises what the handling raised (the letter stays parked)."""
        for attempt in range(1, self._attempts + 1):
            letter = await self.runtime.store.dead_letter(letter_id)
            if letter is None:
                return "gone"
            try:
                return await self._replay(letter)
            except ConcurrencyError:
                # Another process changed what the handling read (a running consumer, a deadline watch,
                # another replay): handle it again on the state as it is now.
                if attempt == self._attempts:
                    raise
                log.info("dead letter %d: state moved while it was replayed; attempt %d", letter_id, attempt + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _replay(self, letter: DeadLetter) -> Outcome:
        assert letter.id is not None
        runtime = self.runtime
        handler = _HANDLERS.get(letter.subscription)
        if handler is not None:
            await handler(runtime, letter)
            return "replayed"
        envelope = Envelope.decode(letter.body)
        if await runtime.store.seen(letter.subscription, [envelope.id]):
            await self._resolve(letter.id)
            return "processed"
        uow = UnitOfWork(
            runtime.domain,
            runtime.store,
            runtime.clock,
            traceparent=envelope.traceparent,
            external=runtime.external,
            refresher=runtime.deferred_reads,
        )
        await runtime.dispatcher.dispatch(envelope, uow)
        change = uow.changes()
        change.inbox.append(InboxMark(letter.subscription, envelope.id))
        change.resolved_dead_letters.append(letter.id)
        try:
            await runtime.committer.commit(change)
        except DuplicateMessage:
            # Processed meanwhile by another process: its effects stand, only the parked copy goes.
            await self._resolve(letter.id)
            return "processed"
        return "replayed"

    async def _resolve(self, letter_id: int) -> None:
        await self.runtime.committer.commit(ChangeSet(resolved_dead_letters=[letter_id]))


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
