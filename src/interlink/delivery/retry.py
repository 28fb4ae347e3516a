"""How long to wait before the next attempt: exponential backoff with full jitter."""

from __future__ import annotations

import math
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
        if not (math.isfinite(self.base_delay) and math.isfinite(self.max_delay)):
            raise ValueError("delays must be finite numbers of seconds")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")

    def exhausted(self, attempt: int) -> bool:
        """True when the delivery that just failed was the last one allowed."""
        return attempt >= self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        # The exponent is capped so a very high attempt number cannot overflow a float.
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(max(0, attempt - 1), 64))
        return random.uniform(0, ceiling)
