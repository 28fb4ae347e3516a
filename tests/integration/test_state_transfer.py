"""Event-Carried State Transfer on every store x broker pair: a replica follows the producer, and a rebuild
from the producer's API while events keep flowing ends equal to the source.

The domains are in :mod:`tests.support.ecst_app`: ``loan-request`` emits ``LoanRequestChanged`` (a fat
event with the loan's state, a tombstone on delete); ``credit`` keeps a ``LoanCopy`` replica of it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from interlink.core.external import ExternalService
from interlink.patterns.state_transfer import ReplicaRebuild
from interlink.ports.store import ChangeSet, Store
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.ecst_app import LoanCopy, change_loan, copies, credit, delete_loan, list_loans, loans


class InProcessLoanApi:
    """The producer's list query answered in process (the HTTP path is the External Service adapter's)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.pages = 0

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        page = await self._rt["loan-request"].query(
            list_loans, cursor=params.get("cursor"), limit=int(params.get("limit", "50"))
        )
        self.pages += 1
        await asyncio.sleep(0)  # let live events interleave with the pages
        return page.model_dump(mode="json")


def settings(backends: Backends) -> Settings:
    # The rebuild is given the in-process API; the HTTP client the runtime builds is never called.
    return Settings(
        store_url=backends.store,
        broker_url=backends.broker,
        relay_poll_interval=0.05,
        fetch_wait=0.05,
        service_urls={"loan-api": "http://127.0.0.1:9"},
    )


async def source_state(rt: Runtime) -> dict[str, tuple[int, str, Decimal]]:
    """The producer's loans as the replica should show them."""
    found: dict[str, tuple[int, str, Decimal]] = {}
    cursor: str | None = None
    while True:
        page = await rt["loan-request"].query(list_loans, cursor=cursor, limit=200)
        found |= {loan.id: (loan.version, loan.status, loan.amount) for loan in page.items}
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def churn(rt: Runtime, live: list[str], steps: int, seed: int) -> None:
    """Random updates and deletes of the ``live`` ids; a deleted id leaves the list and is never used again
    (a re-created aggregate would start again at version 1, below its tombstone)."""
    rng = random.Random(seed)
    for step in range(steps):
        if not live:
            return
        id = rng.choice(live)
        if rng.random() < 0.1:
            live.remove(id)
            await rt["loan-request"].execute(delete_loan, {"id": id})
        else:
            status = rng.choice(["open", "approved", "rejected"])
            await rt["loan-request"].execute(change_loan, {"id": id, "amount": str(step), "status": status})


def record_replica_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (id, version) the store committed into the replica, in commit order (failed commits left out)."""
    committed: list[tuple[str, int]] = []
    commit = store.commit

    async def recording(changes: Sequence[ChangeSet]) -> None:
        await commit(changes)
        committed.extend((w.id, w.new_version) for c in changes for w in c.writes if w.kind == credit.kind_of(LoanCopy))

    monkeypatch.setattr(store, "commit", recording)
    return committed


def assert_each_version_applied_once(committed: list[tuple[str, int]]) -> None:
    """No (id, version) was written twice, and each id's versions only went up."""
    assert committed, "no replica write was recorded"
    assert len(committed) == len(set(committed)), "a version was applied twice"
    last: dict[str, int] = {}
    for id, version in committed:
        assert version > last.get(id, 0), f"{id} went from version {last[id]} to {version}"
        last[id] = version


async def test_replica_follows_updates_and_deletes(backends: Backends) -> None:
    """After N updates and deletes the consumer's replica equals the producer's state."""
    async with Runtime([loans, credit], settings(backends)) as rt:
        ids = [f"L{i:03d}" for i in range(20)]
        live = list(ids)
        for id in ids:
            await rt["loan-request"].execute(change_loan, {"id": id, "amount": "1", "status": "open"})
        await churn(rt, live, 150, seed=1)
        expected = await source_state(rt)
        assert len(expected) < len(ids)  # some were deleted

        async def converged() -> bool:
            return await rt["credit"].query(copies) == expected

        equal: bool = await wait_until(converged, timeout=60, what="the replica to equal the producer's state")
        assert equal


async def test_rebuild_while_events_keep_flowing_ends_equal_to_the_source(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loans changed before credit existed come from the API; changes during the rebuild from events."""
    ids = [f"L{i:03d}" for i in range(60)]
    live = list(ids)
    async with Runtime([loans], settings(backends)) as rt:
        for id in ids:
            await rt["loan-request"].execute(change_loan, {"id": id, "amount": "1", "status": "open"})
        await churn(rt, live, 60, seed=2)
    async with Runtime([loans, credit], settings(backends)) as rt:
        consumer = rt["credit"]
        committed = record_replica_writes(consumer.store, monkeypatch)
        api = InProcessLoanApi(rt)
        rebuild = ReplicaRebuild(credit, "loans", consumer.store, consumer.committer, api, consumer.clock, page_size=7)
        writer = asyncio.create_task(churn(rt, live, 120, seed=3))
        report = await rebuild.run()
        await writer
        expected = await source_state(rt)

        async def converged() -> bool:
            return await consumer.query(copies) == expected

        equal: bool = await wait_until(converged, timeout=60, what="the rebuilt replica to equal the source")
        assert equal
    assert_each_version_applied_once(committed)
    assert report.pages == api.pages >= 2
    assert report.items >= report.applied > 0


@pytest.mark.parametrize("broker_url", ["nats"], indirect=True)
async def test_rebuild_from_the_brokers_history_while_events_keep_flowing(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On NATS JetStream, which keeps the producer's stream, the history alone rebuilds the replica, deletes
    included, while changes keep flowing; the new subscription itself starts with new messages only."""
    ids = [f"L{i:03d}" for i in range(40)]
    live = list(ids)
    async with Runtime([loans], settings(backends)) as rt:
        for id in ids:
            await rt["loan-request"].execute(change_loan, {"id": id, "amount": "1", "status": "open"})
        await churn(rt, live, 80, seed=4)
    async with Runtime([loans, credit], settings(backends)) as rt:
        consumer = rt["credit"]
        committed = record_replica_writes(consumer.store, monkeypatch)
        rebuild = ReplicaRebuild(
            credit, "loans", consumer.store, consumer.committer, None, consumer.clock, page_size=25
        )
        writer = asyncio.create_task(churn(rt, live, 80, seed=5))
        report = await rebuild.run_history(rt.broker)
        await writer
        expected = await source_state(rt)

        async def converged() -> bool:
            return await consumer.query(copies) == expected

        equal: bool = await wait_until(
            converged, timeout=60, what="the replica rebuilt from history to equal the source"
        )
        assert equal
    assert_each_version_applied_once(committed)
    assert report.items >= len(ids) + 80
    assert report.applied > 0
