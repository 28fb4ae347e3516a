"""The relay: publishes outbox rows to the broker in batches, and forgets them only once confirmed.

It wakes when a commit in this process adds outbox rows; a poll interval is only the fallback for rows
committed by another process. Batches go out in commit order, one batch at a time, so the events of one
aggregate reach the broker in the order they were committed. A crash between publish and mark-sent
means the batch is published again: the broker's dedupe window and the consumers' inbox absorb that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from interlink.delivery.committer import Committer
from interlink.delivery.crashpoints import crash_point
from interlink.exceptions import AdapterError
from interlink.ports.broker import Broker, OutgoingMessage
from interlink.ports.store import ChangeSet, Store

__all__ = ["Relay"]

log = logging.getLogger("interlink.relay")


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
        self.published = 0

    def wake(self) -> None:
        """New outbox rows were committed: publish them now rather than at the next poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish every row pending now; returns how many. Raises the adapter error that stopped it."""
        total = 0
        while True:
            count = await self._store.relay_batch(self._batch_size, self._publish, self._confirm)
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
        await self._broker.publish(messages)
        crash_point("relay.after_publish")

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
