"""A circuit breaker per external service: stop calling a source that keeps failing, try again later.

When another domain is down, every message that needs it would otherwise wait for its timeouts and
retries, holding consumers and connections while the source is least able to take load. After
``threshold`` consecutive retryable failures (no answer, timeout, 429, 5xx) the circuit *opens*: calls
fail at once with ``ExternalServiceError(reason="circuit open")``, which is retryable and carries the
circuit's remaining open time as ``retry_after``, so the message comes back through the consumer's
retry no earlier than the half-open probe, without using up its attempts. After ``cooldown`` seconds the circuit is
*half-open*: one trial call goes through (the others still fail fast); its success closes the circuit,
its failure opens it for another cooldown.

A 4xx answer is not a failure of the source (it answered, and said no), so it counts as a success here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """The state of one service's circuit; ``clock`` (monotonic seconds) is injectable for tests."""

    def __init__(
        self, *, threshold: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1 or cooldown < 0:
            raise ValueError("circuit breaker: threshold >= 1 and cooldown >= 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.state}, failures={self._failures}/{self.threshold})"

    @property
    def state(self) -> State:
        """``closed`` (calls go through), ``open`` (calls fail fast) or ``half-open`` (one trial call)."""
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def remaining(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state this claims the one trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial:
            return False
        self._trial = True
        return True

    def succeeded(self) -> None:
        """The source answered (2xx, or a 4xx that is the caller's problem): close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failed(self) -> None:
        """A retryable failure: count it, and open the circuit at the threshold or when a trial failed."""
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._trial = False

    def abandoned(self) -> None:
        """The call ended without a verdict (cancelled): free the trial slot so another call may try."""
        self._trial = False
