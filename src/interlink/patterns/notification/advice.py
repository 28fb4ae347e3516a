"""Choosing the pattern from the observed traffic of a subscription (``interlink advise``).

The seed's rule: deferred update wins when changes outnumber reads, because each read then pays for at most
one fetch however many changes came before it. When reads outnumber changes, the copy should be kept up to
date as changes happen; then the cost of a fetch decides between State Change Notification (one round trip
per change, the payload stays in the source) and Event-Carried State Transfer (no round trip, the payload
travels in every event to every consumer): a small payload costs less to carry than a fetch.

Two things overrule the counts. A subscription that reacts to every change (``side_effects=True``: its
command emits, sends or starts a saga) needs each change as it happens, so deferring it is never advised.
And a figure that was not measured is said to be so: no advice is built on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlink.patterns.notification.records import Figures

__all__ = ["SLOW_FETCH_MS", "SMALL_PAYLOAD", "Advice", "advise"]

#: A payload up to this size (bytes) is cheap to carry in every event.
SMALL_PAYLOAD = 4096
#: A fetch this slow (ms) is worth avoiding even for a larger payload (up to 16 times SMALL_PAYLOAD).
SLOW_FETCH_MS = 100.0
NOT_MEASURED = "not measured"

NAMES = {"notification": "state change notification", "deferred": "deferred update", "ecst": "state transfer"}


@dataclass(frozen=True)
class Advice:
    """Which pattern fits a subscription, why, the figures behind it, and what switching would change."""

    figures: Figures
    pattern: str  # "notification", "deferred", "ecst" or "keep" (nothing measured to judge by)
    reason: str
    changes_per_minute: float | None
    reads_per_minute: float | None
    #: What switching to the advised pattern would change (fetches, bytes, staleness); "" when keeping.
    effect: str = ""

    @property
    def in_use(self) -> str:
        """The pattern the subscription declares."""
        return NAMES[self.figures.pattern]

    @property
    def recommendation(self) -> str:
        """The pattern's name as the seed writes it."""
        return NAMES.get(self.pattern, f"keep {self.in_use}")

    @property
    def switch(self) -> bool:
        """The advised pattern is not the one in use."""
        return self.pattern in NAMES and self.pattern != self.figures.pattern

    def as_dict(self) -> dict[str, Any]:
        """The advice as JSON: figures not measured are null."""
        f = self.figures
        return {
            "integration": f.subscription,
            "kind": "notification subscription",
            "in_use": self.in_use,
            "fits": self.recommendation,
            "switch": self.switch,
            "figures": {
                "changes": f.received,
                "reads": f.reads,
                "fresh_reads": f.served,
                "copy_reads": f.copy_reads,
                "changes_per_minute": self.changes_per_minute,
                "reads_per_minute": self.reads_per_minute,
                "fetches": f.fetches,
                "mean_fetch_ms": f.mean_fetch_ms,
                "mean_payload_bytes": f.mean_payload_bytes,
                "pending": f.pending,
                "reacts_to_every_change": f.side_effects,
            },
            "why": self.reason,
            "effect_of_switching": self.effect or None,
        }


def _measured(value: float | None, unit: str, digits: int = 1) -> str:
    return NOT_MEASURED if value is None else f"{value:.{digits}f} {unit}"


def advise(figures: Figures, now: datetime) -> Advice:
    """The pattern that fits ``figures`` as observed until ``now``."""
    changes, reads = figures.received, figures.reads
    minutes = (now - figures.since).total_seconds() / 60 if figures.since else 0.0
    change_rate = changes / minutes if minutes > 0 else None
    read_rate = reads / minutes if minutes > 0 and reads is not None else None
    rates = (change_rate, read_rate)
    if changes == 0:
        return Advice(figures, "keep", "no notification received yet: changes not measured", *rates)
    if figures.side_effects:
        return _eager(figures, changes, reads, rates)
    if reads is None:
        return Advice(
            figures, "keep",
            f"{changes} changes, reads of the kept copy not measured (no copy declared, or no process counted "
            "its reads yet): nothing to weigh them against",
            *rates,
        )  # fmt: skip
    if changes > reads:
        return _deferred(figures, changes, reads, rates)
    return _kept_busy(figures, changes, reads, rates)


def _eager(figures: Figures, changes: int, reads: int | None, rates: tuple[float | None, float | None]) -> Advice:
    """A subscription that acts on every change: notification, or state transfer when that is cheaper."""
    seen = f"{reads} reads" if reads is not None else f"reads {NOT_MEASURED}"
    acts = f"it reacts to every change ({changes} changes, {seen}): deferred update would skip its side effects"
    ms, size = figures.mean_fetch_ms, figures.mean_payload_bytes
    # Carrying the state pays only for a copy read at least as often as it changes.
    if reads is not None and reads >= changes and ms is not None and size is not None and _carry(ms, size):
        return Advice(
            figures, "ecst",
            f"{acts}; a fetch takes {ms:.1f} ms for {size:.0f} B, small enough to carry in the event",
            *rates, effect=_to_ecst(figures),
        )  # fmt: skip
    cost = "fetch cost not measured" if ms is None else f"a fetch takes {ms:.1f} ms for {size or 0:.0f} B"
    return Advice(figures, "notification", f"{acts}; {cost}", *rates, effect=_back_to_notification(figures))


def _deferred(figures: Figures, changes: int, reads: int, rates: tuple[float | None, float | None]) -> Advice:
    why = (
        f"{changes} changes against {reads} reads: fetching on use costs at most one fetch per read "
        f"({figures.fetches} fetches observed), fetching on every change up to {changes}"
    )
    effect = ""
    if figures.pattern != "deferred":
        saved = max(figures.fetches - reads, 0)
        size = figures.mean_payload_bytes
        saved_bytes = f"{saved * size:.0f} B" if size is not None else f"bytes {NOT_MEASURED}"
        wait = _measured(figures.mean_fetch_ms, "ms")
        effect = (
            f"up to {saved} of {figures.fetches} fetches saved ({saved_bytes}); staleness added: the copy lags "
            f"until it is read, and the first read after a change waits for one fetch ({wait})"
        )
    return Advice(figures, "deferred", why, *rates, effect=effect)


def _kept_busy(figures: Figures, changes: int, reads: int, rates: tuple[float | None, float | None]) -> Advice:
    ms, size = figures.mean_fetch_ms, figures.mean_payload_bytes
    if ms is None or size is None:
        return Advice(
            figures, "keep", f"{reads} reads for {changes} changes; fetch time and payload size {NOT_MEASURED}",
            *rates,
        )  # fmt: skip
    busy = f"{reads} reads for {changes} changes keep the copy busy, and a fetch takes {ms:.1f} ms for {size:.0f} B"
    if _carry(ms, size):
        why = f"{busy}: carrying the state in the event saves a round trip per change"
        return Advice(figures, "ecst", why, *rates, effect=_to_ecst(figures))
    why = f"{busy}: too large to carry in every event, so fetch it per change"
    return Advice(figures, "notification", why, *rates, effect=_back_to_notification(figures))


def _carry(ms: float, size: float) -> bool:
    return size <= SMALL_PAYLOAD or (ms >= SLOW_FETCH_MS and size <= 16 * SMALL_PAYLOAD)


def _to_ecst(figures: Figures) -> str:
    ms, size = figures.mean_fetch_ms, figures.mean_payload_bytes
    carried = f"{figures.received * size:.0f} B" if size is not None else NOT_MEASURED
    return (
        f"all {figures.fetches} fetches saved ({_measured(ms, 'ms')} each); every event carries the state "
        f"instead ({carried} over {figures.received} events, to every consumer); staleness: none added, the copy "
        "follows the event without a round trip"
    )


def _back_to_notification(figures: Figures) -> str:
    if figures.pattern == "notification":
        return ""
    return (
        f"a fetch per change instead of per read ({figures.received} changes); staleness removed: the copy is "
        "brought up to date as each change arrives"
    )
