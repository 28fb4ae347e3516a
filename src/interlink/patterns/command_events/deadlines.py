"""The deadline watch: a small task that turns outstanding requests past their deadline into timeouts.

It asks the store for the issuer's ``~request`` records whose due time (their deadline) has passed
(:meth:`~interlink.ports.store.Store.due`, an index lookup whatever the number of outstanding requests; a
saga's step timeouts are the deadlines of its requests); each one it settles with a timed-out reply in its
own transaction (see :func:`~interlink.patterns.command_events.replies.settle`).
If the real reply commits first, the record's version moved and this timeout does not commit: a request
ends once, either way. Several processes of one domain may watch at the same time for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.delivery.committer import Committer
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import AdapterError, ConcurrencyError
from interlink.patterns.command_events.declarations import Outcome, ReplyData
from interlink.patterns.command_events.records import REQUESTS
from interlink.patterns.command_events.replies import settle
from interlink.ports.store import Store

__all__ = ["DeadlineWatch"]

log = logging.getLogger("interlink.command_events")


class DeadlineWatch:
    """Delivers a timed-out reply, once, for every outstanding request whose deadline passed."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        committer: Committer,
        clock: Clock,
        *,
        interval: float = 0.5,
        batch: int = 200,
    ):
        self.domain = domain
        self._batch = batch
        self._store = store
        self._committer = committer
        self._clock = clock
        self._interval = interval
        self._stopping = asyncio.Event()
        self.timed_out = 0

    def stop(self) -> None:
        """End :meth:`run` at its next tick."""
        self._stopping.set()

    def start(self, name: str) -> asyncio.Task[None]:
        """Start :meth:`run` as a task; a :meth:`stop` from then on ends it, even one made before it first ran."""
        self._stopping.clear()
        return asyncio.create_task(self.run(), name=name)

    async def run(self) -> None:
        """Scan every ``interval`` seconds until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except AdapterError as exc:
                log.warning("deadline watch of %s: %s", self.domain.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def tick(self) -> int:
        """Time out every request due now, ``batch`` at a time; returns how many it timed out."""
        now = self._clock.now().timestamp()
        tried: set[str] = set()
        done = 0
        while True:
            page = await self._store.due(REQUESTS.kind, now, self._batch)
            fresh = [due.id for due in page if due.id not in tried]
            for command_id in fresh:
                tried.add(command_id)
                try:
                    done += await self._time_out(command_id)
                except AdapterError:
                    raise
                except Exception:
                    # A reply handler (or on_end command) that fails on the timeout must not stop the watch:
                    # the request stays outstanding (and due) and is tried again at the next tick.
                    log.exception("timing out request %s of %s failed; tried again later", command_id, self.domain.name)
            # Settled requests leave the index, so the next page holds the next ones; a page of nothing but
            # failures seen already ends the tick.
            if len(page) < self._batch or not fresh:
                return done

    async def _time_out(self, command_id: str) -> int:
        uow = UnitOfWork(self.domain, self._store, self._clock)
        found = await REQUESTS.read(uow, command_id)
        if found is None:
            return 0  # settled meanwhile
        request = found.record
        reason = f"no reply by {request.deadline.isoformat() if request.deadline else '?'}"
        reply = ReplyData(outcome=Outcome.TIMED_OUT, command_type=request.command_type, reason=reason)
        await settle(self.domain, self._clock, uow, command_id, found, reply)
        try:
            await self._committer.commit(uow.changes())
        except ConcurrencyError:
            return 0  # the real reply (or another watch) settled it first
        log.info("request %s (%s) timed out", command_id, request.command_type)
        self.timed_out += 1
        return 1
