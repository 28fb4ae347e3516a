"""Redrive: letters parked after a transient budget are handled again once their cause is gone.

A message parked because its source (or the store) stayed unavailable longer than its retry budget is
not wrong: it is early. Every ``interval`` seconds the runtime's :class:`Redrive` takes the subscription's
``transient`` letters, oldest first, and replays each one through the domain's handlers (effects, inbox
mark and removal of the letter in one transaction). The replay itself is the probe: while the source is
still down it fails at once (its circuit is open) and the letter stays; the other letters of the same
message type wait for the next round, so a source that is down costs one refused call per round.

A replay that now fails for another reason (the source answers, the handler refuses) keeps the letter
with its new reason and class, and it is not redriven again: an operator replays it. A declaration opts
out with ``retry=RetryPolicy(redrive=False)``.

Each round also hands on the ``released`` letters of order-preserving dead letters: a held letter whose turn
came while no process was there to handle it (the letter before it discarded from the command line, or a
crash during a release). Replaying one releases the rest of its aggregate's queue after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from interlink.core.clock import Clock
from interlink.delivery.committer import Committer
from interlink.delivery.failures import failure_details
from interlink.delivery.retry import RetryPolicy, classify
from interlink.exceptions import ConcurrencyError, DuplicateMessage
from interlink.ports.store import RELEASED, ChangeSet, DeadLetter, Store

__all__ = ["Redrive"]

log = logging.getLogger("interlink.redrive")


class Redrive:
    """The redrive task of one subscription; ``replay`` handles one letter again (see ``replay_dead_letter``)."""

    def __init__(
        self,
        store: Store,
        committer: Committer,
        subscription: str,
        replay: Callable[[int], Awaitable[None]],
        policy_for: Callable[[str], RetryPolicy],
        clock: Clock,
        *,
        interval: float = 30.0,
        batch: int = 100,
    ) -> None:
        self.subscription = subscription
        self.interval = interval
        #: Letters handled again and removed since the task started.
        self.redriven = 0
        self._store = store
        self._committer = committer
        self._replay = replay
        self._policy_for = policy_for
        self._clock = clock
        self._batch = batch
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End :meth:`run` (at once if it is waiting, else after the letter in hand)."""
        self._stopping.set()

    def start(self, name: str) -> asyncio.Task[None]:
        """Start :meth:`run` as a task; a :meth:`stop` from then on ends it, even one made before it first ran."""
        self._stopping.clear()
        return asyncio.create_task(self.run(), name=name)

    async def run(self) -> None:
        """A round every ``interval`` seconds until :meth:`stop`; a failing round is logged and retried."""
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
                return
            except TimeoutError:
                pass
            try:
                await self.round()
            except Exception as exc:  # the store is down, say: the letters wait for the next round
                log.warning("redrive %s: %s", self.subscription, exc)

    async def round(self) -> int:
        """Replay the transient letters whose cause may be gone, and the released ones; returns how many
        were handled (released letters counted once per queue)."""
        done = await self._released()
        letters = await self._store.dead_letters(self.subscription, limit=self._batch, error_class="transient")
        still_down: set[str] = set()
        for letter in letters:
            if self._stopping.is_set():
                break
            if letter.id is None or letter.message_type in still_down:
                continue
            if not self._policy_for(letter.message_type).redrive:
                continue
            try:
                await self._replay(letter.id)
            except DuplicateMessage:
                continue  # another process handled it first
            except Exception as exc:
                if isinstance(exc, ConcurrencyError) or classify(exc) == "transient":
                    still_down.add(letter.message_type)
                    log.info("redrive %s: %s still fails (%s); next round", self.subscription, letter.message_id, exc)
                else:
                    await self._reclassify(letter, exc)
                continue
            done += 1
            log.info("redrive %s: %s handled", self.subscription, letter.message_id)
        self.redriven += done
        return done

    async def _released(self) -> int:
        done = 0
        for letter in await self._store.dead_letters(self.subscription, limit=self._batch, error_class=RELEASED):
            if self._stopping.is_set() or letter.id is None:
                break
            try:
                await self._replay(letter.id)  # the rest of its queue follows it
            except Exception as exc:  # it now holds the rest, with its reason, for an operator
                log.warning("redrive %s: released %s failed: %s", self.subscription, letter.message_id, exc)
                continue
            done += 1
        return done

    async def _reclassify(self, letter: DeadLetter, error: Exception) -> None:
        """Keep the letter with its new reason and class: its cause is no longer an outage."""
        kind = classify(error)
        log.error("redrive %s: %s now fails as %s: %s", self.subscription, letter.message_id, kind, error)
        trace, frame = failure_details(error)
        updated = replace(
            letter,
            error=f"{type(error).__name__}: {error}",
            error_class=kind,
            failed_at=self._clock.now(),
            id=None,
            traceback=trace,
            top_frame=frame,
        )
        await self._committer.commit(ChangeSet(dead_letters=[updated]))
