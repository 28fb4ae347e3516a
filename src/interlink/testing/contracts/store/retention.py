"""Retention on every store: old framework records are pruned in bounded batches, recent ones never."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from interlink.ports.store import AggregateWrite, AuditRecord, ChangeSet, InboxMark, Retained, Store
from interlink.testing.contracts.store.base import KIND, SUB, StoreContractBase, _create, _message, _update

__all__ = ["RetentionContract"]


def _boundary() -> float:
    """A cut-off time: everything committed before the call is older, everything after is newer."""
    cut = time.time()
    while time.time() <= cut:  # the next commit's clock reading must be strictly later (coarse clocks)
        time.sleep(0.001)
    return cut


async def _prune_all(store: Store, kind: Retained, older_than: float, limit: int) -> list[int]:
    """Prune until a batch comes back short; the count of each batch."""
    counts = []
    while True:
        counts.append(await store.prune(kind, older_than, limit))
        if counts[-1] < limit:
            return counts


def _record(kind: str, id: str, **fields: object) -> ChangeSet:
    return ChangeSet(writes=[_create(id, json.dumps(fields), kind=kind)])


class RetentionContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

    async def test_prune_inbox_in_batches_keeps_marks_inside_the_window(self, store: Store) -> None:
        """Inbox marks older than the cut-off go in batches of the limit; marks inside the window all stay."""
        old = [f"old-{n}" for n in range(5)]
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, m) for m in old])])
        await store.commit([ChangeSet(inbox=[InboxMark("other.sub", "old-x")])])
        cut = _boundary()
        new = [f"new-{n}" for n in range(3)]
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, m) for m in new])])

        assert await _prune_all(store, Retained.INBOX, cut, limit=2) == [2, 2, 2, 0]
        assert await store.seen(SUB, old + new) == set(new)
        assert await store.seen("other.sub", ["old-x"]) == set()
        # A pruned id may be marked again (it is a new message to the inbox now); the kept ones may not.
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "old-0")])])
        assert await store.prune(Retained.INBOX, cut, 100) == 0

    async def test_prune_keeps_running_sagas_and_business_aggregates(self, store: Store) -> None:
        """An ended saga older than the cut-off is pruned; a running one and an aggregate of the same age stay."""
        await store.commit([_record("~saga", "s-done", status="completed")])
        await store.commit([_record("~saga", "s-comp", status="compensated")])
        await store.commit([_record("~saga", "s-failed", status="failed")])
        await store.commit([_record("~saga", "s-running", status="running")])
        await store.commit([_record("~saga", "s-compensating", status="compensating")])
        await store.commit([_record(KIND, "a-1", status="completed")])
        cut = _boundary()
        await store.commit([_record("~saga", "s-new", status="completed")])

        assert await _prune_all(store, Retained.SAGA, cut, limit=2) == [2, 1]
        for gone in ("s-done", "s-comp", "s-failed"):
            assert await store.load("~saga", gone) is None
        for kept in ("s-running", "s-compensating", "s-new"):
            assert await store.load("~saga", kept) is not None
        assert await store.load(KIND, "a-1") is not None

    async def test_prune_stored_replies_by_age(self, store: Store) -> None:
        """A stored reply older than the cut-off is pruned, a newer one stays, other kinds are untouched."""
        await store.commit([_record("~reply", "cmd-1", outcome="confirmed")])
        await store.commit([_record("~reply", "cmd-2", outcome="rejected")])
        await store.commit([_record(KIND, "a-1", outcome="confirmed")])
        cut = _boundary()
        await store.commit([_record("~reply", "cmd-3", outcome="confirmed")])

        assert await _prune_all(store, Retained.REPLY, cut, limit=1) == [1, 1, 0]
        assert await store.load("~reply", "cmd-1") is None
        assert await store.load("~reply", "cmd-2") is None
        assert await store.load("~reply", "cmd-3") is not None
        assert await store.load(KIND, "a-1") is not None
        assert await store.prune(Retained.SAGA, time.time() + 1, 100) == 0

    async def test_prune_idempotency_keys_by_age(self, store: Store) -> None:
        """Idempotency keys claimed before the cut-off are pruned and may be claimed afresh; newer ones hold."""
        assert await store.claim_idempotency("key-old", "f1", lease=60) is None
        cut = _boundary()
        assert await store.claim_idempotency("key-new", "f2", lease=60) is None

        assert await _prune_all(store, Retained.IDEMPOTENCY, cut, limit=10) == [1]
        assert await store.claim_idempotency("key-old", "f3", lease=60) is None
        held = await store.claim_idempotency("key-new", "f4", lease=60)
        assert held is not None
        assert held.fingerprint == "f2"

    async def test_prune_counters_not_written_within_the_window(self, store: Store) -> None:
        """Counters last written before the cut-off (a stopped process's) go; ones written since stay, and a
        counter written again after a prune is simply created afresh."""
        await store.commit([_record("~counters:sub-a", "delivery-gone", received=5)])
        await store.commit([_record("~counters:sub-b", "reads-gone", served=2)])
        await store.commit([_record("~counters:sub-a", "delivery-live", received=1)])
        await store.commit([_record("~pending:sub-a", "r-1", pending=True)])
        await store.commit([_record("~countersx", "c-1"), _record(KIND, "a-1")])
        cut = _boundary()
        live = await store.load("~counters:sub-a", "delivery-live")
        assert live is not None
        await store.commit([ChangeSet(writes=[_update("delivery-live", 1, '{"received": 2}', "~counters:sub-a")])])

        assert await _prune_all(store, Retained.COUNTERS, cut, limit=1) == [1, 1, 0]
        assert await store.load("~counters:sub-a", "delivery-gone") is None
        assert await store.load("~counters:sub-b", "reads-gone") is None
        assert await store.load("~counters:sub-a", "delivery-live") is not None
        for kind, id in (("~pending:sub-a", "r-1"), ("~countersx", "c-1"), (KIND, "a-1")):
            assert await store.load(kind, id) is not None
        await store.commit([_record("~counters:sub-b", "reads-gone", served=3)])

    async def test_no_prune_removes_what_is_still_needed(self, store: Store) -> None:
        """Pruning every kind with a cut-off past everything leaves outstanding requests (due or not), running
        and compensating sagas, pending flags, replicas, business aggregates and the outbox alone."""
        needed = [
            _create("cmd-waiting", "{}", kind="~request"),
            _create("s-running", json.dumps({"status": "running"}), kind="~saga"),
            _create("s-compensating", json.dumps({"status": "compensating"}), kind="~saga"),
            _create("r-1", json.dumps({"pending": True}), kind="~pending:sub-a"),
            _create("c-1", "{}", kind="~replica:Customer"),
            _create("a-1", "{}"),
        ]
        due = AggregateWrite("~request", "cmd-due", 0, 1, "{}", 1.0)
        await store.commit([ChangeSet(writes=[due, *needed], outbox=[_message(1)])])
        for kind in Retained:
            await _prune_all(store, kind, time.time() + 3600, limit=10)
        for write in [due, *needed]:
            assert await store.load(write.kind, write.id) is not None, write
        assert [d.id for d in await store.due("~request", 2.0, 10)] == ["cmd-due"]
        assert len(await store.outbox_batch(10)) == 1

    async def test_audit_entries_are_read_newest_first_and_pruned_only_by_age(self, store: Store) -> None:
        """Audit entries commit with a change, read back newest first (paged by ``before``), and only those
        older than the cut-off are pruned, in batches."""
        now = datetime.now(UTC)
        entries = [
            AuditRecord("ops", "dead_letter.discard", f"dead-letter:{n}", "why", now - timedelta(days=10 - n))
            for n in range(3)
        ]
        for entry in entries:
            await store.commit([ChangeSet(audit=[entry])])
        await store.commit([ChangeSet(audit=[AuditRecord("ops", "saga.abandon", "saga:s", "why", now, "{}", "{}")])])
        found = await store.audit_entries(10)
        assert [e.target for e in found] == ["saga:s", "dead-letter:2", "dead-letter:1", "dead-letter:0"]
        assert (found[0].before, found[0].after, found[1].before) == ("{}", "{}", None)
        assert [e.target for e in await store.audit_entries(2, before=found[1].id)] == [
            "dead-letter:1",
            "dead-letter:0",
        ]
        cut = (now - timedelta(days=1)).timestamp()
        assert await _prune_all(store, Retained.AUDIT, cut, limit=2) == [2, 1]
        assert [e.target for e in await store.audit_entries(10)] == ["saga:s"]
