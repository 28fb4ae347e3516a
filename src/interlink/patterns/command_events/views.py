"""Reading sagas from a domain's store, for the CLI and the API."""

from __future__ import annotations

from interlink.patterns.command_events.records import SAGAS
from interlink.patterns.command_events.sagas import SagaState
from interlink.ports.store import Store

__all__ = ["list_sagas", "load_saga"]


async def list_sagas(
    store: Store, *, status: str | None = None, after: str | None = None, limit: int = 100
) -> list[SagaState]:
    """Sagas in id order, optionally only those with this status."""
    where = {"status": status} if status else {}
    return [state for _, state in await SAGAS.list(store, where=where, after=after, limit=limit)]


async def load_saga(store: Store, id: str) -> SagaState | None:
    """One saga with its history, or None."""
    return await SAGAS.get(store, id)
