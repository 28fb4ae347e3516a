"""One deadline scan with N outstanding requests: ``Store.due`` beside the full scan it replaced.

A fresh store gets N outstanding ``~request`` records (the JSON the unit of work writes, deadlines an hour
ahead) of which ``DUE`` are past their deadline, plus N other records, then ANALYZE. Timed, medians:

- ``due()``: one ``Store.due("~request", now, 200)``, the deadline watch's query (through the (kind, due_at)
  index);
- ``full scan``: the watch before it: every outstanding request listed in pages of 500 and its JSON parsed
  to compare its deadline with now.

Both must find the same ``DUE`` requests, or the script exits 1. Run through ``bench/scale.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from interlink.patterns.command_events.declarations import REQUEST_KIND, OutstandingRequest
from interlink.ports.store import AggregateWrite, ChangeSet, Store

__all__ = ["DUE", "deadline_scan"]

DUE = 100
CHUNK = 5_000

#: ``median_ms(call, runs)`` of bench/scale.py: the median wall time of ``call(i)`` for i in range(runs), in ms.
Timer = Callable[[Callable[[int], Awaitable[object]], int], Awaitable[float]]


def _request(deadline: datetime) -> str:
    return OutstandingRequest(
        command_type="customer-communication.SendSms",
        command={"sms_id": "s-1", "customer_id": "c-1", "text": "Your loan request was received."},
        to="customer-communication",
        correlation_id="3f1c0a5e8b9d4c2a",
        sent_at=deadline - timedelta(minutes=5),
        deadline=deadline,
    ).model_dump_json()


async def fill(store: Store, n: int, now: datetime) -> None:
    """N outstanding requests (DUE of them past their deadline) and N stored replies."""
    for base in range(0, n, CHUNK):
        writes = []
        for i in range(base, min(base + CHUNK, n)):
            deadline = now - timedelta(seconds=i + 1) if i < DUE else now + timedelta(hours=1, seconds=i)
            writes.append(AggregateWrite(REQUEST_KIND, f"r-{i:09d}", 0, 1, _request(deadline), deadline.timestamp()))
            writes.append(AggregateWrite("~reply", f"p-{i:09d}", 0, 1, '{"outcome": "confirmed"}'))
        await store.commit([ChangeSet(writes=writes)])


async def full_scan(store: Store, now: datetime) -> list[str]:
    """What the deadline watch did before Store.due: list every request, parse each, compare."""
    expired: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_aggregates(REQUEST_KIND, where={}, after=after, limit=500)
        for id, stored in page:
            deadline = OutstandingRequest.model_validate_json(stored.data).deadline
            if deadline is not None and deadline <= now:
                expired.append(id)
        if len(page) < 500:
            return expired
        after = page[-1][0]


async def deadline_scan(
    store: Store, n: int, timer: Timer, analyze: Callable[[Store], Awaitable[None]]
) -> dict[str, float]:
    """Fill, ANALYZE (as a live database has statistics), then time due() and the full scan on the same store;
    both must find the same DUE requests."""
    now = datetime.now(UTC)
    await fill(store, n, now)
    await analyze(store)
    found_due = sorted(d.id for d in await store.due(REQUEST_KIND, now.timestamp(), 200))
    found_scan = sorted(await full_scan(store, now))
    if found_due != found_scan or len(found_due) != DUE:
        raise SystemExit(f"VERIFICATION FAILED: due() found {len(found_due)}, the scan {len(found_scan)}, of {DUE}")

    async def due(_: int) -> None:
        await store.due(REQUEST_KIND, now.timestamp(), 200)

    async def scan(_: int) -> None:
        await full_scan(store, now)

    return {"due() 200": await timer(due, 200), "full scan": await timer(scan, 3)}
