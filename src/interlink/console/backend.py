"""What the console reads and acts through: the operations facade of each domain, and its circuits.

The console is written against this narrow shape (what :class:`interlink.operations.Operations` offers),
so the pages do not depend on how a domain is hosted: inside ``interlink run`` or in a watching process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from interlink.operations.flows import DomainTraffic

__all__ = ["ConsoleDomain", "OperationsPort"]


class OperationsPort(Protocol):
    """The operations of one domain the console uses (records are read by attribute name)."""

    async def status(self) -> Any:
        """Outbox, dead letters, deferred updates, replicas, inbound files, consumer lag."""

    async def dead_letter_groups(self) -> Sequence[Any]:
        """Parked letters grouped by fingerprint, with counts and first/last seen."""

    async def dead_letters(self, *, group: str | None = None, limit: int = 100) -> Sequence[Any]:
        """Parked letters, of one group when given."""

    async def dead_letter(self, letter_id: int, /) -> Any:
        """One parked letter; NotFoundError when there is none."""

    async def replay(self, letter_ids: Sequence[int], /, *, actor: str, reason: str) -> Any:
        """Handle letters again."""

    async def replay_group(self, fingerprint: str, /, *, actor: str, reason: str) -> Any:
        """Handle a whole group again."""

    async def discard(self, letter_ids: Sequence[int], /, *, actor: str, reason: str) -> Any:
        """Drop letters for good."""

    async def edit_and_replay(self, letter_id: int, payload: dict[str, Any], /, *, actor: str, reason: str) -> str:
        """Handle an edited copy (a new message id) and resolve the original."""

    async def sagas(
        self,
        *,
        state: str | None = None,
        definition: str | None = None,
        older_than: float | None = None,
        limit: int = 100,
    ) -> Sequence[Any]:
        """Sagas by state, definition and age (started over ``older_than`` seconds ago)."""

    async def saga(self, saga_id: str, /) -> Any:
        """One saga's timeline; NotFoundError when there is none."""

    async def retry_saga_step(self, saga_id: str, /, *, actor: str, reason: str) -> Any:
        """Send the saga's current step again."""

    async def compensate_saga(self, saga_id: str, /, *, actor: str, reason: str) -> Any:
        """Run the saga's compensations."""

    async def abandon_saga(self, saga_id: str, /, *, actor: str, reason: str) -> Any:
        """Give the saga up."""

    async def audit(self, *, limit: int = 100) -> Sequence[Any]:
        """The audit log, newest first."""

    async def traffic(self) -> DomainTraffic:
        """The domain's side of its arrows on the landscape: recent sends, outbox, letters by type, lag."""


@dataclass
class ConsoleDomain:
    """One domain as the console shows it."""

    name: str
    operations: OperationsPort
    #: External Service name -> circuit state (closed, open, half-open), when the host can tell.
    circuits: Callable[[], Mapping[str, str]] = field(default=lambda: {})
    #: Whether the domain's consumers run in this process (a watching console only reads the store).
    live: bool = False
    started: datetime | None = None
