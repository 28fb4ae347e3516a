"""Bulk ``dead-letters replay`` and ``discard``: selecting, counting, confirming, and racing replays.

Hub's ``Paid`` and ``LimitChanged`` handlers (``apps/replay_app.py``) fail until the fix; each letter's
tally says how many times its message was applied.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from interlink.delivery.retry import RetryPolicy
from interlink.ports.store import Store
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.private_redis import PrivateRedis

from .apps import replay_app
from .apps.replay_app import LimitCopy, change_limit, hub, pay, peer
from .support import INTERLINK, subprocess_env

pytestmark = pytest.mark.faults

POLICY = RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=0.02)
NOWHERE = "http://127.0.0.1:9"  # hub declares peer's API; nothing here fetches from it

#: A replay from the command line, with the reason every action needs.
REPLAY = ("dead-letters", "replay", "--reason", "fixed")


def settings(store: str, broker: str) -> Settings:
    """Fast settings; poison parked at the first failure."""
    return Settings(
        store_url=store,
        broker_url=broker,
        retry=POLICY,
        relay_poll_interval=0.05,
        fetch_wait=0.05,
        service_urls={"peer": NOWHERE},
    )


async def cli(*args: str, cwd: Path, fixed: bool) -> subprocess.CompletedProcess[str]:
    """``interlink`` as a real process, with no terminal on stdin (so no prompt can be answered)."""
    env = subprocess_env(INTERLINK_SERVICE_PEER_URL=NOWHERE, **({replay_app.FIX_ENV: "1"} if fixed else {}))
    return await asyncio.to_thread(
        subprocess.run,
        [str(INTERLINK), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@asynccontextmanager
async def parked(store: str, broker: str, plain: list[str], replica: list[str]) -> AsyncIterator[Runtime]:
    """Both domains running (unfixed) until hub parked one letter per plain and per replica key."""
    replay_app.FIXED = False
    async with Runtime([peer, hub], settings(store, broker)) as rt:
        for key in plain:
            await rt["peer"].execute(pay, {"id": key})
        for key in replica:
            await rt["peer"].execute(change_limit, {"id": key})
        want = len(plain) + len(replica)

        async def all_parked() -> bool:
            return len(await rt["hub"].store.dead_letters(limit=1000)) >= want

        await wait_until(all_parked, timeout=60, what=f"{want} letters parked")
        yield rt


async def tallies(store: Store) -> dict[str, int]:
    """Every tally of hub: key -> applications."""
    found = await store.list_aggregates("Tally", where={}, after=None, limit=1000)
    return {id: int(json.loads(doc.data)["applied"]) for id, doc in found}


async def test_bulk_replay_counts_asks_and_replays_the_selection_once(tmp_path: Path) -> None:
    """Dry run and no --yes change nothing; --error-contains and --subscription replay what they select, once."""
    store, broker = f"sqlite:///{tmp_path}/{{domain}}.db", f"sqlite:///{tmp_path}/broker.db"
    urls = ("--store", store, "--broker", broker)
    plain = ["p1", "p2", "p3"]
    async with parked(store, broker, plain, ["r1"]):
        pass
    async with open_store(store, "hub") as hub_store:
        before = await hub_store.dead_letters()
        assert len(before) == 4
        dry = await cli("dead-letters", "replay", "replay_app:hub", "--error-contains", "PLAIN", "--dry-run", *urls,
                        cwd=tmp_path, fixed=True)  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        assert "3 dead letters of hub match" in dry.stdout
        assert "dry run: nothing was replayed" in dry.stdout
        refused = await cli(*REPLAY, "replay_app:hub", "--all", *urls, cwd=tmp_path, fixed=True)
        assert refused.returncode == 2
        assert (
            refused.stderr.strip().splitlines()[-1] == "error: 4 dead letters would be replayed: pass --yes to go ahead"
        )
        assert await hub_store.dead_letters() == before
        assert await tallies(hub_store) == {}

        both = await cli(*REPLAY, "replay_app:hub", "7", "--all", *urls, cwd=tmp_path, fixed=True)
        assert both.returncode == 2
        assert "not both" in both.stderr

        chosen = await cli(*REPLAY, "replay_app:hub", "--error-contains", "plain", "--yes", *urls,
                           cwd=tmp_path, fixed=True)  # fmt: skip
        assert chosen.returncode == 0, chosen.stderr
        assert "3 dead letters of hub match" in chosen.stdout
        assert "3 dead letters: 3 replayed" in chosen.stdout
        assert await tallies(hub_store) == {f"plain:{k}": 1 for k in plain}
        (left,) = await hub_store.dead_letters()
        assert left.error.startswith("RuntimeError: replica r1")

        rest = await cli(*REPLAY, "replay_app:hub", "--subscription", "hub", "-y", *urls,
                         cwd=tmp_path, fixed=True)  # fmt: skip
        assert rest.returncode == 0, rest.stderr
        assert f"replayed dead letter {left.id}" in rest.stdout
        assert await hub_store.dead_letters() == []
        assert await tallies(hub_store) == {**{f"plain:{k}": 1 for k in plain}, "replica:r1": 1}
        copy = await hub_store.load(hub.kind_of(LimitCopy), "r1")
        assert copy is not None
        assert json.loads(copy.data)["amount"] == 100

        none = await cli(*REPLAY, "replay_app:hub", "--all", *urls, cwd=tmp_path, fixed=True)
        assert none.returncode == 0, none.stderr
        assert "0 dead letters of hub match" in none.stdout


async def test_bulk_replay_that_fails_again_keeps_every_letter_and_exits_2(tmp_path: Path) -> None:
    """Without the fix every letter fails again: each is named, all stay parked, nothing applied, exit 2."""
    store, broker = f"sqlite:///{tmp_path}/{{domain}}.db", f"sqlite:///{tmp_path}/broker.db"
    async with parked(store, broker, ["p1", "p2"], []):
        pass
    result = await cli(*REPLAY, "replay_app:hub", "--all", "--yes", "--store", store, "--broker",
                       broker, cwd=tmp_path, fixed=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("failed again and stays parked: RuntimeError: plain") == 2
    assert result.stderr.strip().splitlines()[-1] == "error: 2 of 2 failed again"
    async with open_store(store, "hub") as hub_store:
        assert len(await hub_store.dead_letters()) == 2
        assert await tallies(hub_store) == {}


async def test_discard_drops_one_or_a_selection_with_its_reason(tmp_path: Path) -> None:
    """Discard removes the named letter, then (with --yes) the selection, printing each with the reason."""
    store, broker = f"sqlite:///{tmp_path}/{{domain}}.db", f"sqlite:///{tmp_path}/broker.db"
    urls = ("--store", store)
    async with parked(store, broker, ["p1", "p2"], ["r1"]):
        pass
    async with open_store(store, "hub") as hub_store:
        first, second, third = await hub_store.dead_letters()
        one = await cli("dead-letters", "discard", "replay_app:hub", str(first.id), "--reason", "test payment",
                        *urls, cwd=tmp_path, fixed=False)  # fmt: skip
        assert one.returncode == 0, one.stderr
        assert f"discarded dead letter {first.id} (peer.Paid {first.message_id}, hub): test payment" in one.stdout
        assert [d.id for d in await hub_store.dead_letters()] == [second.id, third.id]

        unsure = await cli("dead-letters", "discard", "replay_app:hub", "--all", "--reason", "r", *urls,
                           cwd=tmp_path, fixed=False)  # fmt: skip
        assert unsure.returncode == 2
        assert len(await hub_store.dead_letters()) == 2

        rest = await cli("dead-letters", "discard", "replay_app:hub", "--all", "--yes", "--reason", "obsolete",
                         *urls, cwd=tmp_path, fixed=False)  # fmt: skip
        assert rest.returncode == 0, rest.stderr
        assert "2 dead letters discarded" in rest.stdout
        assert rest.stdout.count(": obsolete") == 2
        assert await hub_store.dead_letters() == []
        assert await tallies(hub_store) == {}

        gone = await cli("dead-letters", "discard", "replay_app:hub", str(first.id), "--reason", "again", *urls,
                         cwd=tmp_path, fixed=False)  # fmt: skip
        assert gone.returncode == 2
        assert gone.stderr.strip().splitlines()[-1] == f"error: no dead letter {first.id} in domain 'hub'"


@pytest.mark.slow
@pytest.mark.parametrize("broker_url", ["embedded"], indirect=True)
@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_two_bulk_replays_racing_while_hub_runs_apply_each_letter_once(
    store_url: str, broker_url: str, tmp_path: Path
) -> None:
    """Two `replay --all` processes at once, hub running here: every letter applied exactly once, all gone."""
    keys = [f"p{i:02d}" for i in range(20)]
    urls = ("--store", store_url, "--broker", broker_url)
    async with parked(store_url, broker_url, keys, []) as rt:
        replay_app.FIXED = True
        try:
            runs = await asyncio.gather(
                *(cli(*REPLAY, "replay_app:hub", "--all", "--yes", *urls, cwd=tmp_path, fixed=True)
                  for _ in range(2))
            )  # fmt: skip
        finally:
            replay_app.FIXED = False
        for run in runs:
            assert run.returncode == 0, run.stdout + run.stderr
        said = "".join(run.stdout for run in runs)
        replayed = said.count("replayed dead letter ")
        others = said.count("is gone: replayed or discarded elsewhere") + said.count("was processed already")
        # Each letter replayed by exactly one of them; the other found it gone or processed (or never saw it).
        assert replayed == 20, said
        hub_store = rt["hub"].store
        assert await hub_store.dead_letters() == []
        assert await tallies(hub_store) == {f"plain:{k}": 1 for k in keys}
    print(f"\nracing replays: {replayed} replayed, {others} found done by the other")


async def test_replay_needs_only_the_store_when_the_broker_is_down(tmp_path: Path) -> None:
    """The broker cannot be reached: the replay still applies the letter once (its output would wait)."""
    store, broker = f"sqlite:///{tmp_path}/{{domain}}.db", f"sqlite:///{tmp_path}/broker.db"
    async with parked(store, broker, ["p1"], []):
        pass
    down = PrivateRedis(tmp_path / "redis").url  # a free port, never started
    result = await cli(*REPLAY, "replay_app:hub", "--all", "--yes", "--store", store, "--broker",
                       down, cwd=tmp_path, fixed=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replayed dead letter 1" in result.stdout
    async with open_store(store, "hub") as hub_store:
        assert await hub_store.dead_letters() == []
        assert await tallies(hub_store) == {"plain:p1": 1}
