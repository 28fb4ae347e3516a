"""Order-preserving dead letters, the consumer's side: which messages wait behind a parked one.

A subscription that keeps order (``Domain(..., ordered_dead_letters=True)``) parks every message about an
aggregate with a letter parked as ``held``: unhandled, in the store, behind that letter, so the broker keeps
flowing. The aggregate of a message is its CloudEvents source and subject (:func:`aggregate_key`).
:mod:`interlink.runtime.replay` releases the held letters, in order, once the first is replayed or discarded.
"""

from __future__ import annotations

from collections.abc import Iterable

from interlink.core.clock import Clock
from interlink.ports.broker import Delivery
from interlink.ports.envelope import Envelope
from interlink.ports.store import HELD, DeadLetter, Store

__all__ = ["Holding", "aggregate_key"]


def aggregate_key(envelope: Envelope) -> str | None:
    """What order-preserving dead letters keep in order: the messages of one source about one subject."""
    return f"{envelope.source}/{envelope.subject}" if envelope.subject else None


class Holding:
    """The held aggregates of one consumer's subscription; ``enabled`` False makes every answer empty."""

    def __init__(self, store: Store, subscription: str, clock: Clock, *, enabled: bool) -> None:
        self.enabled = enabled
        self._store = store
        self._subscription = subscription
        self._clock = clock

    def key(self, envelope: Envelope) -> str | None:
        """The aggregate a message waits for, if the subscription keeps order (else None)."""
        return aggregate_key(envelope) if self.enabled else None

    async def parked(self, envelopes: Iterable[Envelope]) -> set[str]:
        """The aggregates of these messages with a letter parked: one index lookup (none if not enabled).

        Raises StoreUnavailable when the store cannot tell.
        """
        keys = {k for e in envelopes if (k := self.key(e)) is not None}
        if not keys:
            return set()
        return await self._store.parked_keys(self._subscription, sorted(keys))

    def letter(self, delivery: Delivery, envelope: Envelope, key: str) -> DeadLetter:
        """The letter of a message parked behind its aggregate, unhandled (not a failure: no attempt used)."""
        return DeadLetter(
            subscription=self._subscription,
            message_id=delivery.message_id,
            message_type=envelope.type,
            body=delivery.body,
            error=f"held behind an earlier dead letter of {key}",
            attempts=0,
            failed_at=self._clock.now(),
            error_class=HELD,
            ordering_key=key,
        )
