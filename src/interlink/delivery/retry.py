"""How long to wait before the next attempt: exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` deliveries in all, then the message is parked in the dead-letter store.

    The delay before attempt n+1 is drawn uniformly from [0, min(cap, base * 2**(n-1))] ("full jitter"),
    so consumers that failed together do not retry together.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")

    def exhausted(self, attempt: int) -> bool:
        """True when the delivery that just failed was the last one allowed."""
        return attempt >= self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))
        return random.uniform(0, ceiling)
