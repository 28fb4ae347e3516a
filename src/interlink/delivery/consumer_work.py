"""The items of the batch a consumer has in hand, and what it hands back to the broker."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.delivery.retry import RetryPolicy
from interlink.ports.broker import Delivery
from interlink.ports.store import ChangeSet

__all__ = ["Retry", "Work"]


@dataclass
class Work:
    """A delivery of the batch in hand and the change set to commit for it (its effects or its letter)."""

    delivery: Delivery
    change: ChangeSet
    error: Exception | None = None  # set when the change is a dead letter
    committed: bool = False  # its change set committed (or was found committed already)
    policy: RetryPolicy | None = None
    message_type: str = "?"
    held: bool = False  # parked behind an earlier letter of its aggregate, never handled
    ordering_key: str | None = None  # its aggregate, when the subscription keeps order


#: A delivery to hand back, why, and after how many seconds.
Retry = tuple[Delivery, Exception, float]
