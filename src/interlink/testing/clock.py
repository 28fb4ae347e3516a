"""A clock that moves only when a test moves it, for deadlines, retry backoff and transient budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]

#: Where a :class:`ManualClock` starts unless told otherwise: a fixed instant, so runs are repeatable.
START = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    """Implements ``interlink.core.clock.Clock``; :meth:`advance` is the only way time passes.

    :meth:`monotonic` (seconds since the start) drives the External Service clients' circuit breakers, so
    a circuit's cooldown ends when the test advances past it, too.
    """

    def __init__(self, start: datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware (UTC)")
        self._start = start
        self._now = start

    def now(self) -> datetime:
        """The current instant (UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Seconds since the clock started."""
        return (self._now - self._start).total_seconds()

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move forward by ``seconds`` (never back); returns the new instant."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise ValueError(f"a clock does not go back (asked to move by {step})")
        self._now += step
        return self._now
