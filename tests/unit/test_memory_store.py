"""The in-memory store passes the store contract, like every real store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from interlink.adapters.stores.memory import MemoryStore
from interlink.ports.store import Store
from interlink.testing.contracts.store import StoreContract


class TestMemoryStore(StoreContract):
    """MemoryStore("memory://") against the store contract."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        """A private, connected in-memory store."""
        async with MemoryStore("memory://", domain="test-domain") as store:
            yield store
