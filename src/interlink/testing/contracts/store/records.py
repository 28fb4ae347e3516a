"""Lifecycle, idempotency records and inbound files on every store."""

from __future__ import annotations

import pytest

from interlink.exceptions import ConcurrencyError, StoreError
from interlink.ports.store import (
    ChangeSet,
    Store,
)
from interlink.testing.contracts.store.base import (
    KIND,
    SUB,
    StoreContractBase,
    _create,
    _message,
)

__all__ = ["RecordsContract"]


class RecordsContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

    # -- lifecycle ---------------------------------------------------------------------------------

    async def test_ping(self, store: Store) -> None:
        """ping() succeeds on a connected store."""
        await store.ping()
        assert store.domain == "test-domain"

    async def test_use_before_connect_raises(self, store: Store) -> None:
        """Every operation of a store that was never connected raises StoreError."""
        fresh = type(store)(store.url, domain=store.domain)
        with pytest.raises(StoreError):
            await fresh.ping()
        with pytest.raises(StoreError):
            await fresh.load(KIND, "a-1")
        with pytest.raises(StoreError):
            await fresh.seen(SUB, ["m-1"])
        with pytest.raises(StoreError):
            await fresh.commit([ChangeSet(writes=[_create("a-1")])])
        with pytest.raises(StoreError):
            await fresh.outbox_batch(10)
        with pytest.raises(StoreError):
            await fresh.outbox_status()
        with pytest.raises(StoreError):
            await fresh.dead_letters()
        with pytest.raises(StoreError):
            await fresh.dead_letter(1)
        with pytest.raises(StoreError):
            await fresh.mark_sent([1])

    async def test_use_after_close_raises(self, store: Store) -> None:
        """A closed store refuses work with StoreError, and closing twice is harmless."""
        await store.close()
        await store.close()
        with pytest.raises(StoreError):
            await store.load(KIND, "a-1")
        with pytest.raises(StoreError):
            await store.commit([ChangeSet(outbox=[_message(1)])])

    # -- idempotency -------------------------------------------------------------------------------

    async def test_idempotency_claim_then_done_then_replay(self, store: Store) -> None:
        """A key is claimed once; the response commits with the effects; later claims see it."""
        from interlink.ports.store import IdempotencyRecord

        assert await store.claim_idempotency("k-1", "fp", lease=60) is None
        held = await store.claim_idempotency("k-1", "fp", lease=60)
        assert held is not None
        assert held.state == "pending"
        done = IdempotencyRecord("k-1", "fp", "done", held.created_at, 201, '{"ok": true}')
        await store.commit([ChangeSet(writes=[_create("a-1")], idempotency=done)])
        again = await store.claim_idempotency("k-1", "other", lease=60)
        assert again is not None
        assert (again.state, again.status, again.response, again.fingerprint) == ("done", 201, '{"ok": true}', "fp")

    async def test_idempotency_release_and_expired_lease(self, store: Store) -> None:
        """A released claim can be claimed again; so can a pending one older than its lease (a crash)."""
        assert await store.claim_idempotency("k-2", "fp", lease=60) is None
        await store.release_idempotency("k-2")
        assert await store.claim_idempotency("k-2", "fp", lease=60) is None
        assert await store.claim_idempotency("k-2", "fp", lease=0) is None, "a lease of 0 has expired"

    async def test_idempotency_renewal_keeps_a_live_claim(self, store: Store) -> None:
        """A renewed claim restarts its lease; a done, released or foreign claim is not renewed."""
        from interlink.ports.store import IdempotencyRecord

        assert await store.claim_idempotency("k-3", "fp", lease=60) is None
        first = await store.claim_idempotency("k-3", "fp", lease=60)
        assert first is not None
        assert await store.renew_idempotency("k-3", "other") is False, "another request's claim"
        assert await store.renew_idempotency("k-3", "fp") is True
        renewed = await store.claim_idempotency("k-3", "fp", lease=60)
        assert renewed is not None
        assert renewed.created_at >= first.created_at
        done = IdempotencyRecord("k-3", "fp", "done", renewed.created_at, 200, "{}")
        await store.commit([ChangeSet(writes=[_create("a-3")], idempotency=done)])
        assert await store.renew_idempotency("k-3", "fp") is False, "a done key holds no lease"
        assert await store.renew_idempotency("k-none", "fp") is False

    # -- inbound files -----------------------------------------------------------------------------

    async def test_file_claim_is_exclusive_and_dedupes_content(self, store: Store) -> None:
        """A file is claimed once; its owner renews it; another owner, or the same content, gets the holder."""
        from interlink.ports.store import InboundFile

        mine = InboundFile("f1", "customers", "a.csv", "sha-1", 10, "worker-a")
        claimed = await store.claim_file(mine, lease=60)
        assert (claimed.file_id, claimed.owner, claimed.state) == ("f1", "worker-a", "processing")
        assert claimed.checkpoint == 0
        assert claimed.lease_until > claimed.claimed_at > 0
        other = await store.claim_file(InboundFile("f1", "customers", "a.csv", "sha-1", 10, "worker-b"), lease=60)
        assert other.owner == "worker-a", "a live claim is not taken over"
        copy = await store.claim_file(InboundFile("f2", "customers", "b.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (copy.file_id, copy.owner) == ("f1", "worker-a"), "the same content under another name is held"
        elsewhere = await store.claim_file(InboundFile("f3", "accounts", "b.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (elsewhere.file_id, elsewhere.owner) == ("f3", "worker-b"), "another source is another claim"
        forced = await store.claim_file(InboundFile("f4", "customers", "c.csv", "sha-1", 10, "worker-b", True), 60)
        assert (forced.file_id, forced.forced) == ("f4", True), "a forced claim repeats content"
        assert await store.inbound_file("f1") == claimed
        assert await store.inbound_file("nope") is None

    async def test_file_claim_is_taken_over_after_its_lease_or_from_a_dead_owner(self, store: Store) -> None:
        """An expired lease, or an owner named as dead, lets another worker take the claim with its checkpoint."""
        from interlink.ports.store import FileProgress, InboundFile

        await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-a"), lease=0)
        progress = FileProgress("f1", "worker-a", 0, 7, 6, 1, 120, lease_until=0)
        await store.commit([ChangeSet(file_progress=progress)])
        taken = await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-b"), lease=60)
        assert (taken.owner, taken.checkpoint, taken.accepted, taken.rejected, taken.rejects_bytes) == (
            "worker-b", 7, 6, 1, 120,
        )  # fmt: skip
        held = await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-c"), lease=60)
        assert held.owner == "worker-b"
        replaced = await store.claim_file(
            InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-c"), lease=60, replace_owner="worker-b"
        )
        assert replaced.owner == "worker-c"

    async def test_file_progress_commits_with_effects_and_is_fenced(self, store: Store) -> None:
        """Progress must continue from the stored checkpoint under its owner, or nothing of its commit lands."""
        from interlink.ports.store import FileProgress, InboundFile

        await store.claim_file(InboundFile("f1", "s", "a.csv", "sha-1", 10, "worker-a"), lease=60)
        step = FileProgress("f1", "worker-a", 0, 2, 2, 0, 0, lease_until=0)
        await store.commit([ChangeSet(writes=[_create("a-1"), _create("a-2")], file_progress=step)])
        stale = FileProgress("f1", "worker-a", 0, 4, 4, 0, 0, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_create("a-3")], file_progress=stale)])
        stranger = FileProgress("f1", "worker-b", 2, 4, 4, 0, 0, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(writes=[_create("a-4")], file_progress=stranger)])
        assert await store.load(KIND, "a-3") is None
        assert await store.load(KIND, "a-4") is None
        chained = [
            ChangeSet(file_progress=FileProgress("f1", "worker-a", 2, 3, 3, 0, 0, lease_until=0)),
            ChangeSet(file_progress=FileProgress("f1", "worker-a", 3, 5, 4, 1, 80, lease_until=0)),
        ]
        await store.commit(chained)
        done = FileProgress("f1", "worker-a", 5, 5, 4, 1, 80, 0, "archived", '{"outcome": "archived"}')
        await store.commit([ChangeSet(outbox=[_message(1)], file_progress=done)])
        final = await store.inbound_file("f1")
        assert final is not None
        assert (final.state, final.checkpoint, final.accepted, final.rejected, final.rejects_bytes) == (
            "archived", 5, 4, 1, 80,
        )  # fmt: skip
        assert final.report == '{"outcome": "archived"}'
        late = FileProgress("f1", "worker-a", 5, 6, 5, 1, 80, lease_until=0)
        with pytest.raises(ConcurrencyError):
            await store.commit([ChangeSet(file_progress=late)])
        after = await store.claim_file(InboundFile("f9", "s", "again.csv", "sha-1", 10, "worker-z"), lease=60)
        assert (after.file_id, after.state) == ("f1", "archived"), "finished content stays claimed"
