"""The store contract for order-preserving dead letters: the letters of one ordering key queue by id."""

from __future__ import annotations

from dataclasses import replace

from interlink.ports.store import HELD, RELEASED, ChangeSet, DeadLetter, Store
from interlink.testing.contracts.store.base import SUB, StoreContractBase, _letter

__all__ = ["OrderedLettersContract"]

KEY = "test-domain/account-1"


def _keyed(n: int, error_class: str, key: str = KEY, subscription: str = SUB) -> DeadLetter:
    return replace(_letter(n, subscription), error_class=error_class, ordering_key=key)


class OrderedLettersContract(StoreContractBase):
    """Letters with an ordering key: found by key, in order; removing the first releases the next."""

    async def _classes(self, store: Store, key: str = KEY) -> list[tuple[str, str | None]]:
        return [(d.message_id, d.error_class) for d in await store.letters_of_key(SUB, key)]

    async def test_letters_are_found_by_key_in_order(self, store: Store) -> None:
        """parked_keys names only the keys with a letter of that subscription; letters_of_key lists them by id."""
        await store.commit([ChangeSet(dead_letters=[_keyed(1, "poison"), _keyed(2, HELD), _keyed(3, HELD)])])
        await store.commit([ChangeSet(dead_letters=[_keyed(4, "poison", "test-domain/account-2", "other.sub")])])
        await store.commit([ChangeSet(dead_letters=[_letter(5)])])
        keys = ["test-domain/account-2", KEY, "test-domain/account-3"]
        assert await store.parked_keys(SUB, keys) == {KEY}
        assert await store.parked_keys(SUB, []) == set()
        assert await self._classes(store) == [("dead-1", "poison"), ("dead-2", HELD), ("dead-3", HELD)]
        assert [d.ordering_key for d in await store.letters_of_key(SUB, KEY, 2)] == [KEY, KEY]
        assert (await store.dead_letters(error_class=None))[-1].ordering_key is None

    async def test_removing_the_first_letter_releases_the_next_only(self, store: Store) -> None:
        """The commit that removes the first letter of a key releases the one behind it, and no other."""
        await store.commit([ChangeSet(dead_letters=[_keyed(1, "poison"), _keyed(2, HELD), _keyed(3, HELD)])])
        first, *_ = await store.letters_of_key(SUB, KEY)
        assert first.id is not None
        await store.commit([ChangeSet(resolved_dead_letters=[first.id])])
        assert await self._classes(store) == [("dead-2", RELEASED), ("dead-3", HELD)]

    async def test_a_held_letter_with_nothing_before_it_is_released(self, store: Store) -> None:
        """A letter held when the last letter before it was removed meanwhile is released in its own commit."""
        await store.commit([ChangeSet(dead_letters=[_keyed(1, HELD)])])
        assert await self._classes(store) == [("dead-1", RELEASED)]

    async def test_a_held_letter_parked_again_keeps_its_place_and_state(self, store: Store) -> None:
        """A redelivered message held again leaves its row alone; a failure parked again keeps the key."""
        await store.commit([ChangeSet(dead_letters=[_keyed(1, "poison"), _keyed(2, HELD), _keyed(3, HELD)])])
        first, second, _ = await store.letters_of_key(SUB, KEY)
        assert first.id is not None
        await store.commit([ChangeSet(resolved_dead_letters=[first.id])])
        await store.commit([ChangeSet(dead_letters=[_keyed(2, HELD)])])
        assert await self._classes(store) == [("dead-2", RELEASED), ("dead-3", HELD)]
        failed = replace(second, id=None, error="BusinessRuleError: no", error_class="permanent", ordering_key=None)
        await store.commit([ChangeSet(dead_letters=[failed])])
        again = await store.letters_of_key(SUB, KEY)
        assert [(d.id, d.error_class, d.error) for d in again[:1]] == [
            (second.id, "permanent", "BusinessRuleError: no")
        ]
