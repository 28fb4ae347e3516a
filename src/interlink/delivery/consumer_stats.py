"""What a consumer counts of what it did: read by the runtime, the operations API, metrics and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConsumerStats"]


@dataclass
class ConsumerStats:
    """What a consumer did since it started."""

    processed: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    #: Messages parked behind an earlier letter of their aggregate (order-preserving dead letters).
    held: int = 0
    batches: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: Failures by class (transient, permanent, poison), each delivery that failed counted once.
    failures: dict[str, int] = field(default_factory=dict)
