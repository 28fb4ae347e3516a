"""Waiting fetches of one process, woken when a publish or a retry may have made messages visible: what the
in-memory and the embedded broker share."""

from __future__ import annotations

import asyncio

__all__ = ["Wakeup"]


class Wakeup:
    """Fetches sleep here until :meth:`wake` or their timeout; ``generation`` counts the wakes."""

    def __init__(self) -> None:
        self.generation = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def wake(self) -> None:
        """Let every waiting fetch look again: something may have become visible."""
        self.generation += 1
        for fut in self._waiters:
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_result(None)

    async def sleep(self, seconds: float, since: int | None = None) -> None:
        """Wait until :meth:`wake` or for ``seconds``; not at all if a wake came after ``generation`` was
        ``since`` (one between the caller's look at its messages and this call must not be slept through)."""
        if since is not None and self.generation != since:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait((fut,), timeout=seconds)
        finally:
            self._waiters.discard(fut)
            fut.cancel()
