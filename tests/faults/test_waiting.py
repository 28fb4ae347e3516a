"""wait_until, the helper these tests wait with: the first truthy value, or an error naming what it missed."""

from __future__ import annotations

import pytest

from interlink.testing.waiting import wait_until


async def test_returns_the_first_truthy_value_of_a_sync_or_async_predicate() -> None:
    """Sync and async predicates are polled until truthy, and that value is returned."""
    calls = iter([0, [], "done"])
    assert await wait_until(lambda: next(calls), timeout=5, interval=0.001) == "done"

    async def ready() -> list[int]:
        return [1]

    assert await wait_until(ready, timeout=5) == [1]


async def test_timeout_names_what_was_awaited_and_the_last_value() -> None:
    """When time runs out, TimeoutError says what was awaited and what the predicate last returned."""
    receipts: list[str] = []
    with pytest.raises(TimeoutError, match=r"waiting for 3 receipts \(last value: \[\]\)"):
        await wait_until(lambda: receipts, timeout=0.05, what="3 receipts")
