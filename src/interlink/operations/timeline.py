"""Sagas as an operator reads them: a filtered list, a list view, and a saga's timeline of steps, replies,
compensations, timeouts."""

from __future__ import annotations

from datetime import datetime

from interlink.core.domain import Domain
from interlink.operations.views import SagaTimeline, SagaView, TimelineEntry
from interlink.patterns.command_events import list_sagas
from interlink.patterns.command_events.declarations import OutstandingRequest
from interlink.patterns.command_events.sagas import SagaEntry, SagaState, sagas_of
from interlink.ports.store import Store

__all__ = ["find_sagas", "saga_view", "timeline"]


def saga_view(domain: Domain, state: SagaState, now: datetime) -> SagaView:
    """The list view of one saga."""
    saga = sagas_of(domain).get(state.name)
    return SagaView(
        id=state.id,
        name=state.name,
        status=state.status.value,
        step=state.step + 1,
        steps=len(saga.steps) if saga is not None else None,
        started_at=state.started_at,
        deadline=state.deadline,
        age_seconds=max(0.0, (now - state.started_at).total_seconds()),
        awaiting=state.awaiting,
        reason=state.reason,
    )


def _kind(entry: SagaEntry) -> str:
    what = entry.what
    if what.startswith("operator"):
        return "operator"
    if "timed_out" in what:
        return "timeout"
    if what.startswith("compensat"):
        return "compensation"
    if what.startswith("step sent") or what == "started":
        return "step"
    if what.startswith("step "):
        return "reply"
    return "other"


def timeline(domain: Domain, state: SagaState, request: OutstandingRequest | None, now: datetime) -> SagaTimeline:
    """One saga in full, with the request it waits for (``request``) when there is one."""
    saga = sagas_of(domain).get(state.name)
    steps: list[dict[str, str | None]] = [
        {
            "command": s.command.message_name(),
            "to": s.target(),
            "compensate": s.compensate.message_name() if s.compensate is not None else None,
        }
        for s in (saga.steps if saga is not None else ())
    ]
    entries = [
        TimelineEntry(at=e.at, step=e.step + 1, kind=_kind(e), what=e.what, detail=e.detail) for e in state.history
    ]
    outstanding = None
    if request is not None:
        outstanding = {
            "command_id": state.awaiting,
            "command_type": request.command_type,
            "to": request.to,
            "sent_at": request.sent_at,
            "deadline": request.deadline,
        }
    return SagaTimeline(
        saga=saga_view(domain, state, now), data=state.data, steps=steps, entries=entries, outstanding=outstanding
    )


async def find_sagas(
    domain: Domain,
    store: Store,
    now: datetime,
    state: str | None,
    definition: str | None,
    older_than: float | None,
    limit: int,
) -> list[SagaView]:
    """Sagas by id, at most ``limit``: of one state and one definition (saga name), started over ``older_than``
    seconds before ``now``; read a page of 500 at a time."""
    found: list[SagaView] = []
    after = None
    while len(found) < limit:
        page = await list_sagas(store, status=state, after=after, limit=500)
        for saga in page:
            if definition is not None and saga.name != definition:
                continue
            if older_than is not None and (now - saga.started_at).total_seconds() < older_than:
                continue
            found.append(saga_view(domain, saga, now))
        if len(page) < 500:
            break
        after = page[-1].id
    return found[:limit]
