"""A release of order-preserving dead letters cut short by SIGKILL resumes where it stopped, on every store x
broker pair: the command-line replay of the parked posting is killed after the first posting it released; the
domain's runtime hands over the rest, and each posting is in the book once, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

from .apps import ordered_app
from .apps.ordered_app import accounts, ledger, post
from .support import run_cli

pytestmark = pytest.mark.faults


async def test_a_release_killed_half_way_resumes_in_order_and_applies_each_once(
    backends: Backends, tmp_path: Path
) -> None:
    """Replay of A2 killed after A3 (A4, A5 left): the runtime applies A4 then A5; A's book is 1..5 once."""
    settings = Settings(
        store_url=backends.store, broker_url=backends.broker, relay_poll_interval=0.05, fetch_wait=0.05,
        redrive_interval=0.1,
    )  # fmt: skip
    ordered_app.FIXED = False
    try:
        async with open_store(backends.store, "ledger") as store:

            async def book(account: str) -> list[int]:
                stored = await store.load("Book", account)
                return list(json.loads(stored.data)["seqs"]) if stored else []

            async def parked() -> bool:
                return len(await store.dead_letters()) == 4 and await book("B") == [1, 2]

            async with Runtime([accounts, ledger], settings) as rt:
                for seq in (1, 2, 3, 4, 5):
                    await rt["accounts"].execute(post, {"account_id": "A", "seq": seq})
                    if seq < 3:
                        await rt["accounts"].execute(post, {"account_id": "B", "seq": seq})
                await wait_until(parked, timeout=30, what="A2 parked with A3..A5 behind it, B through")
            first = (await store.dead_letters())[0]
            assert await book("A") == [1]

            ordered_app.FIXED = True  # deployed: for the runtime here; the command line reads FIX_ENV
            env = {ordered_app.FIX_ENV: "1", "INTERLINK_CRASH_AT": "replay.after_release:1"}
            urls = ("--store", backends.store, "--broker", backends.broker)
            killed = await run_cli("dead-letters", "replay", "ordered_app:ledger", str(first.id), *urls,
                                   "--reason", "fixed", cwd=tmp_path, **env)  # type: ignore[arg-type]  # fmt: skip
            assert killed.returncode == -9, killed.stdout + killed.stderr
            assert await book("A") == [1, 2, 3]
            assert [d.error_class for d in await store.dead_letters()] == ["released", "held"]

            async def drained() -> bool:
                return await store.dead_letters() == []

            async with Runtime([accounts, ledger], settings):
                await wait_until(drained, timeout=30, what="A4 and A5 handed over by the runtime")
            assert await book("A") == [1, 2, 3, 4, 5]
            assert await book("B") == [1, 2]
    finally:
        ordered_app.FIXED = False
