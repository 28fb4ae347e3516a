"""What one RedisBroker instance knows of a subscription it fetches from, and the deliveries it makes of entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from interlink.ports.broker import Delivery

__all__ = ["Entry", "Reader"]

#: stream number, entry id, message id, body, attempt, defect ('' for a well-formed entry)
Entry = tuple[int, bytes, str, bytes, int, str]


@dataclass
class Reader:
    """A subscription's streams and this instance's state of fetching from them."""

    channels: tuple[str, ...]
    streams: tuple[str, ...]
    read_at: float
    types: frozenset[bytes] = frozenset()  # the subscription's types, as of read_at (they only ever widen)
    cursors: dict[str, bytes] = field(default_factory=dict)
    next_scan: float = 0.0
    turn: int = 0
    #: Until when (loop time) nothing but new entries can be due, as far as the last take saw: no delayed
    #: entry, no scan for timed-out ones. Until then a blocking XREADGROUP is all a take would do.
    quiet_until: float = 0.0
    #: The last look left nothing behind, as far as it could tell: it took fewer than it could from each stream.
    short: bool = False

    def carry(self, old: Reader | None) -> Reader:
        """This fresh reading, keeping the fetch state of ``old`` if it read the same channels."""
        if old is not None and old.channels == self.channels:
            self.cursors, self.next_scan, self.turn = old.cursors, old.next_scan, old.turn
            self.quiet_until, self.short = old.quiet_until, old.short
        return self

    @property
    def index(self) -> dict[str, int]:
        """Each stream's number, as the scripts count them (from 0 here)."""
        return {stream: i for i, stream in enumerate(self.streams)}

    def deliveries(self, subscription: str, entries: Sequence[Entry]) -> list[Delivery]:
        """The deliveries of fetched ``entries``; their handle is (stream, entry id)."""
        return [
            Delivery(
                subscription,
                # A defective entry has no message id of its own: its place in its stream is one.
                message_id or f"{self.streams[i]}:{entry.decode()}",
                body,
                attempt,
                (self.streams[i], entry),
                defect or None,
            )
            for i, entry, message_id, body, attempt, defect in entries
        ]
