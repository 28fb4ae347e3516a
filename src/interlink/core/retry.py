"""How a subscription retries a message that failed: a declaration, so no I/O and no error handling here.

Failures come in three classes (the consumer tells them apart, see :mod:`interlink.delivery.retry`):

- *transient*: a source, the store or the broker is unavailable, a circuit is open, a call timed out. Not
  the message's fault, so it never uses up the message's attempts: it is retried with capped exponential
  backoff for as long as ``budget`` seconds since its first failure, then parked (and redriven once the
  source answers again, unless ``redrive`` is off).
- *permanent*: the message can never succeed (invalid payload, unknown type, a business rule refused it):
  parked at once, with the reason.
- *poison*: any other exception of a handler: retried with the same backoff, parked after
  ``max_attempts`` failures of its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """The retry rules of one subscription (or, in the runtime's settings, of every subscription).

    - ``max_attempts``: handler failures (poison) before the message is parked;
    - ``base_delay`` and ``max_delay`` (s): the delay after failure n is drawn uniformly from
      [0, min(max_delay, base_delay * 2**(n-1))] ("full jitter"), so consumers that failed together do
      not retry together; n counts the failures of the class at hand;
    - ``budget`` (s): how long transient failures are retried, from the first one, before the message is
      parked. The default rides out a 15-minute outage with room for a circuit's cooldown and a last delay;
    - ``redrive``: letters parked after a transient budget are handled again by the runtime once the
      cause is gone (the source answers again).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    budget: float = 1200.0
    redrive: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not all(math.isfinite(x) for x in (self.base_delay, self.max_delay, self.budget)):
            raise ValueError("delays and budget must be finite numbers of seconds")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")
        if self.budget < 0:
            raise ValueError("budget must be at least 0 seconds")

    def exhausted(self, attempt: int) -> bool:
        """True when the handler failure number ``attempt`` (1-based) was the last one allowed."""
        return attempt >= self.max_attempts

    def spent(self, seconds: float) -> bool:
        """True when transient failures have been retried for ``seconds`` since the first: park it."""
        return seconds >= self.budget

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failure number ``attempt`` (1-based) of a class."""
        # The exponent is capped so a very high attempt number cannot overflow a float.
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(max(0, attempt - 1), 64))
        return random.uniform(0, ceiling)
