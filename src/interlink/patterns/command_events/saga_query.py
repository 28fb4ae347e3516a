"""The built-in query a domain with sagas gets: ``GET /sagas/{saga_id}`` when its API is exposed."""

from __future__ import annotations

from interlink.core.context import Context
from interlink.patterns.command_events.sagas import SagaState

__all__ = ["saga_state"]


async def saga_state(ctx: Context, saga_id: str) -> SagaState:
    """One saga of this domain: its status, data and history (404 when there is no such saga)."""
    return await ctx.get(SagaState, saga_id)
