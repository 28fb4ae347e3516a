"""Teardown on every store: what a domain's store created is removed, and a new store there starts empty."""

from __future__ import annotations

from interlink.ports.store import ChangeSet, InboxMark, Store
from interlink.testing.contracts.store.base import KIND, SUB, StoreContractBase, _create

__all__ = ["TeardownContract"]


class TeardownContract(StoreContractBase):
    """Part of :class:`~interlink.testing.contracts.store.StoreContract`."""

    async def test_teardown_removes_what_the_store_holds(self, store: Store) -> None:
        """After teardown (which names what it removed) a store on the same URL holds no aggregate nor mark."""
        await store.commit([ChangeSet(writes=[_create("a-1", "{}")], inbox=[InboxMark(SUB, "m-1")])])
        assert await store.teardown()
        again = type(store)(store.url, domain=store.domain)
        async with again:
            assert await again.load(KIND, "a-1") is None
            assert await again.seen(SUB, ["m-1"]) == set()
            assert (await again.outbox_status()).pending == 0
        await again.teardown()
