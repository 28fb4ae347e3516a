"""The health of one domain as an operator sees it, read from its store (and its broker, for the lag)."""

from __future__ import annotations

from datetime import datetime

from interlink.core.domain import Domain
from interlink.exceptions import AdapterError
from interlink.operations.views import DomainStatus, FileStatus, ReplicaStatus
from interlink.patterns.command_events import list_sagas
from interlink.patterns.command_events.sagas import SagaStatus
from interlink.patterns.notification import subscription_figures
from interlink.patterns.notification.declarations import notifications_of
from interlink.patterns.state_transfer.declarations import replicas_of
from interlink.ports.broker import Broker
from interlink.ports.store import DeadLetter, Store

__all__ = ["consumer_lag", "domain_status"]

_PAGE = 1000


async def _count(store: Store, kind: str) -> int:
    count, after = 0, None
    while True:
        rows = await store.list_aggregates(kind, where={}, after=after, limit=_PAGE)
        count += len(rows)
        if len(rows) < _PAGE:
            return count
        after = rows[-1][0]


async def _count_sagas(store: Store, status: SagaStatus) -> int:
    count, after = 0, None
    while True:
        page = await list_sagas(store, status=status.value, after=after, limit=_PAGE)
        count += len(page)
        if len(page) < _PAGE:
            return count
        after = page[-1].id


async def consumer_lag(broker: Broker | None, subscription: str) -> int | None:
    """Messages waiting at the broker for ``subscription``; None without a broker, or when it cannot tell."""
    if broker is None:
        return None
    try:
        return await broker.backlog(subscription)
    except AdapterError:
        return None  # the broker is down: the lag is unknown, the rest still stands


async def domain_status(
    domain: Domain, store: Store, broker: Broker | None, letters: list[DeadLetter], groups: int, now: datetime
) -> DomainStatus:
    """Outbox, dead letters, deferred updates, replicas, inbound files, sagas, and the consumer lag."""
    outbox = await store.outbox_status()
    pending = 0
    for spec in notifications_of(domain).values():
        if spec.deferred:
            pending += (await subscription_figures(store, spec)).pending
    replicas = [
        ReplicaStatus(name=spec.name, copies=await _count(store, spec.kind), feed=spec.event.message_type())
        for spec in replicas_of(domain).values()
    ]
    files = [
        FileStatus(
            file_id=f.file_id,
            source=f.source,
            name=f.name,
            state=f.state,
            records=f.checkpoint,
            accepted=f.accepted,
            rejected=f.rejected,
            claimed_at=datetime.fromtimestamp(f.claimed_at, now.tzinfo),
            size=f.size,
            owner=f.owner,
        )
        for f in await store.unfinished_files()
    ]
    lag = await consumer_lag(broker, domain.name)
    return DomainStatus(
        domain=domain.name,
        outbox_pending=outbox.pending,
        outbox_oldest_age=(now - outbox.oldest_pending).total_seconds() if outbox.oldest_pending else None,
        dead_letters=len(letters),
        dead_letter_groups=groups,
        pending_deferred=pending,
        replicas=replicas,
        files_in_progress=files,
        sagas_running=await _count_sagas(store, SagaStatus.RUNNING)
        + await _count_sagas(store, SagaStatus.COMPENSATING),
        sagas_failed=await _count_sagas(store, SagaStatus.FAILED),
        consumer_lag=lag,
    )
