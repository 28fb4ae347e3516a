"""Reading sagas from a domain's store, for the CLI and the API."""

from __future__ import annotations

from interlink.patterns.command_events.sagas import SAGA_KIND, SagaState
from interlink.ports.store import Store

__all__ = ["list_sagas", "load_saga"]


async def list_sagas(
    store: Store, *, status: str | None = None, after: str | None = None, limit: int = 100
) -> list[SagaState]:
    """Sagas in id order, optionally only those with this status."""
    where = {"status": status} if status else {}
    found = await store.list_aggregates(SAGA_KIND, where=where, after=after, limit=limit)
    return [SagaState.model_validate_json(stored.data) for _, stored in found]


async def load_saga(store: Store, id: str) -> SagaState | None:
    """One saga with its history, or None."""
    stored = await store.load(SAGA_KIND, id)
    return SagaState.model_validate_json(stored.data) if stored else None
