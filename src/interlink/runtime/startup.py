"""Waiting for a runtime's dependencies at start-up: the broker, each store, the inbound file folders.

Processes of a landscape start in any order, and a database or broker may be restarting when they do. A
dependency that is not ready yet is tried again with a capped exponential backoff until the start-up
timeout, and each wait is logged with its reason. A :class:`~interlink.exceptions.ConfigurationError`
(a bad URL, a missing driver, a declaration that cannot work) is not waited for: no retry can fix it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from interlink.exceptions import ConfigurationError, InterlinkError

__all__ = ["Backoff", "StartupTimeout", "until_ready"]

log = logging.getLogger("interlink.runtime")


class StartupTimeout(InterlinkError):
    """A dependency was still not ready when the start-up timeout ran out."""


class Backoff:
    """Capped exponential waits, shared by every dependency of one start-up against one deadline."""

    def __init__(self, timeout: float, *, first: float = 0.2, cap: float = 5.0) -> None:
        if timeout < 0:
            raise ConfigurationError(f"the start-up timeout must not be negative, got {timeout:g}")
        self.timeout = timeout
        self.first = first
        self.cap = cap
        self._deadline: float | None = None

    def remaining(self) -> float:
        """Seconds left before the start-up timeout (the clock starts at the first call)."""
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            self._deadline = now + self.timeout
        return max(0.0, self._deadline - now)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.cap, self.first * 2 ** (attempt - 1)))


async def until_ready(what: str, attempt: Callable[[], Awaitable[None]], backoff: Backoff) -> None:
    """Run ``attempt`` until it succeeds, waiting between failures, within the backoff's deadline.

    With a timeout of 0 the first failure is raised as it is. A configuration error is always raised at
    once. When the deadline passes, raises :class:`StartupTimeout` naming ``what`` and the last error.
    """
    tries = 0
    backoff.remaining()  # the deadline counts from the first attempt
    while True:
        tries += 1
        try:
            await attempt()
            if tries > 1:
                log.info("start-up: %s is ready (attempt %d)", what, tries)
            return
        except ConfigurationError:
            raise
        except Exception as exc:
            left = backoff.remaining()
            if backoff.timeout == 0:
                raise
            if left <= 0:
                raise StartupTimeout(
                    f"{what} was not ready within the start-up timeout of {backoff.timeout:g}s "
                    f"({tries} attempts); last error: {type(exc).__name__}: {exc}"
                ) from exc
            delay = min(backoff.delay(tries), left)
            log.warning(
                "start-up: waiting for %s (attempt %d failed, next in %.1fs, %.0fs left): %s: %s",
                what, tries, delay, left, type(exc).__name__, exc,
            )  # fmt: skip
            await asyncio.sleep(delay)
