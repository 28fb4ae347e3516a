"""How long and how hard the chaos run goes, from the environment (defaults keep the soak to a few minutes a pair).

- ``INTERLINK_CHAOS_SECONDS``: seconds of load and faults per pair (default 50: a kill every 2.75 s on average,
  about three rounds over the six domains, as many SIGKILLs as 90 s gave at the former 5.5 s pace).
- ``INTERLINK_CHAOS_SEED``: seed of every random choice (default: drawn, and printed so a run can be repeated).
- ``INTERLINK_CHAOS_SETTLE``: the most seconds the landscape may take to settle after the faults (default 180).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

__all__ = ["ChaosConfig"]

#: An Idempotency-Key left pending by a SIGKILL is held this long (the API's default lease), so the client
#: keeps retrying past it once the faults stop.
IDEMPOTENCY_LEASE = 60.0


@dataclass(frozen=True)
class ChaosConfig:
    """One pair's run: how long the faults last, how long the client may keep retrying and the landscape
    may take to settle, and the seed."""

    seconds: float = 50.0
    settle: float = 180.0
    seed: int = 0
    #: Client workers submitting loan requests, and workers moving customers (each one operation at a time).
    loan_workers: int = 5
    move_workers: int = 5
    #: Customers in the first branch file, then in each later one, and seconds between files.
    first_file: int = 40
    later_files: int = 15
    file_every: float = 8.0

    @property
    def drain(self) -> float:
        """Seconds after the faults during which the client still retries what it has not had acknowledged."""
        return IDEMPOTENCY_LEASE + 60.0

    @property
    def budget(self) -> float:
        """An upper bound of the whole run, for the test's timeout: start-up (2 min), the faults and a last kill
        round (at most 2 min over), the drain, settling, then health, scores and stop (at most 4 min)."""
        return 120.0 + self.seconds + 130.0 + self.drain + self.settle + 240.0

    @classmethod
    def from_env(cls) -> ChaosConfig:
        """The configuration the environment asks for."""
        env = os.environ
        seed = int(env["INTERLINK_CHAOS_SEED"]) if env.get("INTERLINK_CHAOS_SEED") else random.randrange(10**6)
        seconds = float(env.get("INTERLINK_CHAOS_SECONDS") or 50)
        settle = float(env.get("INTERLINK_CHAOS_SETTLE") or 180)
        if seconds < 10 or settle < 10:
            raise ValueError("INTERLINK_CHAOS_SECONDS and INTERLINK_CHAOS_SETTLE must be at least 10")
        return cls(seconds=seconds, settle=settle, seed=seed)
