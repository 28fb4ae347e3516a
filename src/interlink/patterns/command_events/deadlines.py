"""The deadline watch: a small task that turns outstanding requests past their deadline into timeouts.

It scans the issuer's ``~request`` records; for each one past its deadline it settles the request with a
timed-out reply in its own transaction (see :func:`~interlink.patterns.command_events.replies.settle`).
If the real reply commits first, the record's version moved and this timeout does not commit: a request
ends once, either way. Several processes of one domain may watch at the same time for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from interlink.core.clock import Clock
from interlink.core.command_events import REQUEST_KIND, Outcome, OutstandingRequest, ReplyData
from interlink.core.domain import Domain
from interlink.delivery.committer import Committer
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import AdapterError, ConcurrencyError
from interlink.patterns.command_events.replies import settle
from interlink.ports.store import Store

__all__ = ["DeadlineWatch"]

log = logging.getLogger("interlink.command_events")


class DeadlineWatch:
    """Delivers a timed-out reply, once, for every outstanding request whose deadline passed."""

    def __init__(self, domain: Domain, store: Store, committer: Committer, clock: Clock, *, interval: float = 0.5):
        self.domain = domain
        self._store = store
        self._committer = committer
        self._clock = clock
        self._interval = interval
        self._stopping = asyncio.Event()
        self.timed_out = 0

    def stop(self) -> None:
        """End :meth:`run` at its next tick."""
        self._stopping.set()

    async def run(self) -> None:
        """Scan every ``interval`` seconds until :meth:`stop`."""
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.tick()
            except AdapterError as exc:
                log.warning("deadline watch of %s: %s", self.domain.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def tick(self) -> int:
        """One scan; returns how many requests it timed out."""
        now = self._clock.now()
        expired: list[str] = []
        after: str | None = None
        while True:
            page = await self._store.list_aggregates(REQUEST_KIND, where={}, after=after, limit=500)
            for id, stored in page:
                deadline = OutstandingRequest.model_validate_json(stored.data).deadline
                if deadline is not None and deadline <= now:
                    expired.append(id)
            if len(page) < 500:
                break
            after = page[-1][0]
        done = 0
        for command_id in expired:
            try:
                done += await self._time_out(command_id)
            except AdapterError:
                raise
            except Exception:
                # A reply handler (or on_end command) that fails on the timeout must not stop the watch:
                # the request stays outstanding and is tried again at the next tick.
                log.exception("timing out request %s of %s failed; tried again later", command_id, self.domain.name)
        return done

    async def _time_out(self, command_id: str) -> int:
        uow = UnitOfWork(self.domain, self._store, self._clock)
        found = await uow.load_record(REQUEST_KIND, command_id)
        if found is None:
            return 0  # settled meanwhile
        request = OutstandingRequest.model_validate_json(found[0])
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
