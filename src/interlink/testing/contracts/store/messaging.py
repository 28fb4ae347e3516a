"""Outbox, inbox and dead letters: the store's half of every delivery guarantee."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from interlink.exceptions import DuplicateMessage
from interlink.ports.store import (
    ChangeSet,
    InboxMark,
    OutboxStatus,
    Store,
)
from interlink.testing.contracts.store.base import (
    SUB,
    StoreContractBase,
    _create,
    _letter,
    _message,
)

__all__ = ["MessagingContract"]


class MessagingContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

    # -- outbox ------------------------------------------------------------------------------------

    async def test_outbox_rows_come_back_in_commit_order(self, store: Store) -> None:
        """outbox_batch returns unsent messages unchanged, oldest first, by increasing seq, up to limit."""
        await store.commit([ChangeSet(outbox=[_message(1), _message(2, ordering_key="k:a-1")])])
        await store.commit([ChangeSet(outbox=[_message(3)]), ChangeSet(outbox=[_message(4), _message(5)])])
        rows = await store.outbox_batch(10)
        assert [row.message for row in rows] == [
            _message(1),
            _message(2, ordering_key="k:a-1"),
            _message(3),
            _message(4),
            _message(5),
        ]
        seqs = [row.seq for row in rows]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert [row.message for row in await store.outbox_batch(2)] == [
            _message(1),
            _message(2, ordering_key="k:a-1"),
        ]

    async def test_park_outbox_moves_one_row_to_the_dead_letters_in_one_step(self, store: Store) -> None:
        """park_outbox removes the refused message's row and adds its dead letter; the rows around it stay
        in order; a message no longer pending parks nothing."""
        await store.commit([ChangeSet(outbox=[_message(n) for n in range(1, 4)])])
        refused = _message(2)
        letter = replace(
            _letter(1, subscription="outbox:test-domain.events"),
            message_id=refused.message_id,
            message_type=refused.type,
            body=refused.body,
        )
        assert await store.park_outbox(letter) is True
        assert [row.message for row in await store.outbox_batch(10)] == [_message(1), _message(3)]
        (parked,) = await store.dead_letters()
        assert parked.id is not None
        assert replace(parked, id=None) == letter
        assert await store.park_outbox(letter) is False
        assert len(await store.dead_letters()) == 1
        assert (await store.outbox_status()).pending == 2

    async def test_mark_sent_removes_rows(self, store: Store) -> None:
        """Rows marked sent leave the outbox; the others stay, still in order."""
        await store.commit([ChangeSet(outbox=[_message(n) for n in range(1, 6)])])
        rows = await store.outbox_batch(10)
        await store.mark_sent([rows[0].seq, rows[2].seq])
        assert [row.message for row in await store.outbox_batch(10)] == [
            _message(2),
            _message(4),
            _message(5),
        ]
        await store.mark_sent([row.seq for row in rows])
        assert await store.outbox_batch(10) == []

    async def test_seq_keeps_growing_after_rows_are_sent(self, store: Store) -> None:
        """A row committed after others were sent gets a larger seq, so commit order stays total."""
        await store.commit([ChangeSet(outbox=[_message(1), _message(2)])])
        sent = await store.outbox_batch(10)
        await store.mark_sent([row.seq for row in sent])
        await store.commit([ChangeSet(outbox=[_message(3)])])
        (row,) = await store.outbox_batch(10)
        assert row.message == _message(3)
        assert row.seq > max(r.seq for r in sent)

    async def test_outbox_status_counts_pending_and_oldest(self, store: Store) -> None:
        """outbox_status counts unsent rows and gives the (timezone-aware) time of the oldest one."""
        assert await store.outbox_status() == OutboxStatus(0, None)
        before = datetime.now(UTC) - timedelta(seconds=1)
        await store.commit([ChangeSet(outbox=[_message(1), _message(2)])])
        await store.commit([ChangeSet(outbox=[_message(3)])])
        after = datetime.now(UTC) + timedelta(seconds=1)
        status = await store.outbox_status()
        assert status.pending == 3
        assert status.oldest_pending is not None
        assert status.oldest_pending.tzinfo is not None
        assert before <= status.oldest_pending <= after
        rows = await store.outbox_batch(10)
        await store.mark_sent([rows[0].seq])
        assert (await store.outbox_status()).pending == 2
        await store.mark_sent([row.seq for row in rows])
        assert await store.outbox_status() == OutboxStatus(0, None)

    # -- inbox -------------------------------------------------------------------------------------

    async def test_seen_reports_marked_ids(self, store: Store) -> None:
        """seen() returns exactly the asked ids that the subscription's inbox holds."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1"), InboxMark(SUB, "m-2")])])
        assert await store.seen(SUB, ["m-1", "m-2", "m-3"]) == {"m-1", "m-2"}
        assert await store.seen(SUB, ["m-3"]) == set()
        assert await store.seen(SUB, []) == set()
        assert await store.seen("other-subscription", ["m-1", "m-2"]) == set()

    async def test_same_message_id_in_two_subscriptions(self, store: Store) -> None:
        """Two subscriptions each record the same message id without clashing."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1")])])
        await store.commit([ChangeSet(inbox=[InboxMark("other-subscription", "m-1")])])
        assert await store.seen("other-subscription", ["m-1"]) == {"m-1"}

    async def test_duplicate_mark_raises_and_rolls_back(self, store: Store) -> None:
        """Marking an id the inbox holds raises DuplicateMessage and writes nothing else of the commit."""
        await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-1")])])
        change = ChangeSet(
            writes=[_create("a-1")],
            outbox=[_message(1)],
            inbox=[InboxMark(SUB, "m-2"), InboxMark(SUB, "m-1")],
            dead_letters=[_letter(1)],
        )
        with pytest.raises(DuplicateMessage):
            await store.commit([ChangeSet(inbox=[InboxMark(SUB, "m-3")]), change])
        await self._assert_empty(store, "a-1")
        assert await store.seen(SUB, ["m-1", "m-2", "m-3"]) == {"m-1"}

    async def test_duplicate_mark_within_one_commit_raises(self, store: Store) -> None:
        """Two change sets of one commit marking the same message raise DuplicateMessage and write nothing."""
        first = ChangeSet(writes=[_create("a-1")], inbox=[InboxMark(SUB, "m-1")])
        second = ChangeSet(writes=[_create("a-2")], inbox=[InboxMark(SUB, "m-1")])
        with pytest.raises(DuplicateMessage):
            await store.commit([first, second])
        await self._assert_empty(store, "a-1", "a-2")
        assert await store.seen(SUB, ["m-1"]) == set()

    # -- dead letters ------------------------------------------------------------------------------

    async def test_dead_letters_are_listed_oldest_first(self, store: Store) -> None:
        """Parked messages come back whole, with distinct ids, oldest first, filtered by subscription."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2, "other-subscription")])])
        await store.commit([ChangeSet(dead_letters=[_letter(3)])])
        everything = await store.dead_letters()
        ids = [d.id for d in everything]
        assert None not in ids
        assert len(set(ids)) == 3
        assert [replace(d, id=None) for d in everything] == [
            _letter(1),
            _letter(2, "other-subscription"),
            _letter(3),
        ]
        assert [d.message_id for d in await store.dead_letters(SUB)] == ["dead-1", "dead-3"]
        assert [d.message_id for d in await store.dead_letters("other-subscription")] == ["dead-2"]
        assert await store.dead_letters("nobody") == []
        assert [d.message_id for d in await store.dead_letters(limit=2)] == ["dead-1", "dead-2"]

    async def test_dead_letter_by_id(self, store: Store) -> None:
        """dead_letter(id) returns that parked message, and None for an unknown id."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2)])])
        first, second = await store.dead_letters()
        assert first.id is not None
        assert second.id is not None
        assert await store.dead_letter(second.id) == second
        assert await store.dead_letter(first.id) == first
        assert await store.dead_letter(max(first.id, second.id) + 1000) is None

    async def test_resolving_removes_a_dead_letter(self, store: Store) -> None:
        """A resolved dead letter is gone from the list and by id; the others remain."""
        await store.commit([ChangeSet(dead_letters=[_letter(1), _letter(2)])])
        first, second = await store.dead_letters()
        assert first.id is not None
        await store.commit([ChangeSet(resolved_dead_letters=[first.id])])
        assert await store.dead_letters() == [second]
        assert await store.dead_letter(first.id) is None
