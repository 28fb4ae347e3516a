"""Choosing the pattern from the observed traffic of a subscription (``interlink advise``).

The seed's rule: deferred update wins when changes outnumber uses, because each use then pays for at most
one fetch however many changes came before it. When uses outnumber changes, the copy should be kept up
to date as changes happen; then the cost of a fetch decides between State Change Notification (one
round trip per change, the payload stays in the source) and Event-Carried State Transfer (no round trip,
the payload travels in every event to every consumer): a small payload costs less to carry than a fetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from interlink.patterns.notification.records import Figures

__all__ = ["SLOW_FETCH_MS", "SMALL_PAYLOAD", "Advice", "advise"]

#: A payload up to this size (bytes) is cheap to carry in every event.
SMALL_PAYLOAD = 4096
#: A fetch this slow (ms) is worth avoiding even for a larger payload (up to 16 times SMALL_PAYLOAD).
SLOW_FETCH_MS = 100.0

NAMES = {"notification": "state change notification", "deferred": "deferred update", "ecst": "state transfer"}


@dataclass(frozen=True)
class Advice:
    """Which pattern fits a subscription, and why, with the rates behind it."""

    figures: Figures
    pattern: str  # "notification", "deferred", "ecst" or "keep" (no traffic to judge by)
    reason: str
    changes_per_minute: float | None
    reads_per_minute: float | None

    @property
    def recommendation(self) -> str:
        """The pattern's name as the seed writes it."""
        return NAMES.get(self.pattern, f"keep {NAMES[self.figures.pattern]}")


def advise(figures: Figures, now: datetime) -> Advice:
    """The pattern that fits ``figures`` as observed until ``now``."""
    changes, reads = figures.received, figures.served
    minutes = (now - figures.since).total_seconds() / 60 if figures.since else 0.0
    rates = (changes / minutes, reads / minutes) if minutes > 0 else (None, None)
    if changes == 0:
        return Advice(figures, "keep", "no notification received yet: nothing to judge by", *rates)
    if changes > reads:
        return Advice(
            figures, "deferred",
            f"{changes} changes against {reads} reads: fetching on use costs at most one fetch per read "
            f"({figures.fetches} fetches observed), fetching on every change up to {changes}",
            *rates,
        )  # fmt: skip
    ms, size = figures.mean_fetch_ms, figures.mean_payload_bytes
    if ms is None or size is None:
        return Advice(figures, "notification", f"{reads} reads for {changes} changes; no fetch measured yet", *rates)
    cost = f"a fetch takes {ms:.1f} ms for {size:.0f} B"
    if size <= SMALL_PAYLOAD or (ms >= SLOW_FETCH_MS and size <= 16 * SMALL_PAYLOAD):
        return Advice(
            figures, "ecst",
            f"{reads} reads for {changes} changes keep the copy busy, and {cost}: carrying the state in the "
            "event saves a round trip per change",
            *rates,
        )  # fmt: skip
    return Advice(
        figures, "notification",
        f"{reads} reads for {changes} changes keep the copy busy, and {cost}: too large to carry in every "
        "event, so fetch it per change",
        *rates,
    )  # fmt: skip
