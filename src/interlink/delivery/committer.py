"""Group commit: change sets that arrive while a transaction is running are committed together next.

A single-row transaction costs the same fsync as a hundred-row one, so under load the committer turns
many small commits into few large ones. If a group fails because of one change set (a version conflict,
a duplicate inbox mark), the group is replayed one change set per transaction, in arrival order, so that
only the culprit fails and every other change set commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from interlink.exceptions import ConcurrencyError, DuplicateMessage
from interlink.observability import tracing
from interlink.ports.store import ChangeSet, Store

if TYPE_CHECKING:
    from opentelemetry.trace import SpanContext

__all__ = ["Committer"]

#: A change set, what its commit settles, and the span it was committed from (tracing on).
_Pending = tuple[ChangeSet, "asyncio.Future[None]", "SpanContext | None"]


class Committer:
    """Commits change sets to one store, grouping those that wait; calls ``on_commit`` after each group."""

    def __init__(
        self,
        store: Store,
        *,
        max_group: int = 1000,
        on_commit: Callable[[Sequence[ChangeSet]], None] | None = None,
    ) -> None:
        self._store = store
        self._max_group = max_group
        self._on_commit = on_commit
        self._queue: list[_Pending] = []
        self._leader: asyncio.Task[None] | None = None

    async def commit(self, change: ChangeSet) -> None:
        """Commit one change set; raises what its own commit raised."""
        await self._enqueue([change], tracing.current_context())[0]

    async def commit_many(self, changes: Sequence[ChangeSet]) -> list[Exception | None]:
        """Commit several change sets, in order; returns each one's error (None when it committed)."""
        results: list[Exception | None] = []
        for future in self._enqueue(changes, tracing.current_context()):
            try:
                await future
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    def _enqueue(self, changes: Sequence[ChangeSet], parent: SpanContext | None) -> list[asyncio.Future[None]]:
        # The futures are awaited as they are, not through asyncio.shield (a second future and two callbacks
        # per change set): a waiter cancelled (a request's timeout) cancels its own future, which the group
        # then skips when it settles; its change set still commits with the group it is in.
        loop = asyncio.get_running_loop()
        futures = []
        for change in changes:
            future: asyncio.Future[None] = loop.create_future()
            self._queue.append((change, future, parent))
            futures.append(future)
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._drain())
        return futures

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
            await self._commit_group(group)

    async def _commit_group(self, group: list[_Pending]) -> None:
        broken = [c for c, _, _ in group if any(dep.failed for dep in c.depends_on)]
        if broken:
            # Only possible when replaying one by one: a change set read what a failed one staged.
            _settle(group, error=ConcurrencyError("it read changes of a message whose commit failed; retry"))
            return
        try:
            # One span per transaction, not per unit of work waiting for it (see tracing.committing).
            with tracing.committing(self._store.domain, [parent for _, _, parent in group]):
                await self._store.commit([change for change, _, _ in group])
        except (ConcurrencyError, DuplicateMessage) as exc:
            if len(group) == 1:
                _settle(group, error=exc)
                return
            for pending in group:
                await self._commit_group([pending])
        except Exception as exc:
            _settle(group, error=exc)
        else:
            _settle(group, error=None)
            if self._on_commit is not None:
                self._on_commit([change for change, _, _ in group])


def _settle(group: list[_Pending], *, error: Exception | None) -> None:
    for change, future, _ in group:
        change.failed = error is not None
        if error is None and change.after_commit:
            for callback in change.after_commit:
                callback()
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
