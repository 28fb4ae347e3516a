"""SIGKILL the issuing domain in the middle of its sagas, restart it: every saga ends once, as it should.

Two real processes on every store x broker pair of the integration suite: ``partner`` runs the steps,
``lending`` starts 30 sagas in one command (every third fails at step 3) and handles the replies.
``lending`` is killed at a crash point of its consumer, restarted, and must bring every saga to its end;
the partner's journal shows each step and each compensation run once, in order, and each saga's
``on_end`` command ran once. Then every reply the partner stored is sent again, and nothing changes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration import conftest as integration
from tests.integration.conftest import Backends

from .support import APPS, Run, finish_runner, subprocess_env

# The integration suite's fixtures: every store x broker pair, fresh names, cleaned up afterwards.
store_url = integration.store_url
broker_url = integration.broker_url
backends = integration.backends

pytestmark = [pytest.mark.faults, pytest.mark.slow]

N = 30
SAGA_APP = APPS / "saga_app.py"


class Landscape:
    """The two processes' command lines and output files, in one folder."""

    def __init__(self, folder: Path, backends: Backends) -> None:
        self.folder = folder
        self.store = backends.store
        # A short visibility timeout brings back quickly what the killed process had in hand.
        self.urls = ("--store", backends.store, "--broker", backends.broker_with(visibility_timeout=1))

    def start(self, *args: str, crash_at: str | None = None) -> tuple[subprocess.Popen[bytes], Path, Path]:
        env = subprocess_env(**({"INTERLINK_CRASH_AT": crash_at} if crash_at else {}))
        tag = f"{args[0]}-{crash_at or 'clean'}-{len(list(self.folder.glob('*.out')))}".replace(":", "_")
        out, err = self.folder / f"{tag}.out", self.folder / f"{tag}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            command = [sys.executable, str(SAGA_APP), args[0], str(self.folder), *args[1:], *self.urls]
            proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=self.folder)
        return proc, out, err

    async def run(self, *args: str, crash_at: str | None = None) -> Run:
        return await asyncio.to_thread(finish_runner, *self.start(*args, crash_at=crash_at), 120)

    async def rows(self, domain: str, kind: str) -> dict[str, str]:
        async with open_store(self.store, domain) as store:
            found = await store.list_aggregates(kind, where={}, after=None, limit=10_000)
        return {id: stored.data for id, stored in found}

    async def journals(self) -> dict[str, list[str]]:
        return {id: json.loads(data)["entries"] for id, data in (await self.rows("partner", "Journal")).items()}


@pytest.mark.parametrize("crash_at", ["consumer.before_commit:4", "consumer.after_commit:4"], ids=lambda s: s[:-2])
async def test_an_issuer_killed_mid_saga_resumes_and_ends_every_saga_once(
    tmp_path: Path, backends: Backends, crash_at: str
) -> None:
    """Killed at its 4th batch of replies and restarted, lending ends all 30 sagas; steps and compensations
    ran once each, in order; replies sent again afterwards change nothing."""
    land = Landscape(tmp_path, backends)
    partner, partner_out, partner_err = land.start("partner", "--timeout", "400")
    try:
        # The subscription must exist before the first publish: the broker fans out at publish time.
        await wait_until(
            lambda: (tmp_path / "partner.ready").exists() or partner.poll() is not None,
            timeout=60,
            what="the partner process to subscribe",
        )
        assert partner.poll() is None, finish_runner(partner, partner_out, partner_err, 0).describe()

        crashed = await land.run("lending", str(N), crash_at=crash_at)
        assert crashed.returncode == -9, crashed.describe()
        statuses = [json.loads(d)["status"] for d in (await land.rows("lending", "~saga")).values()]
        assert len(statuses) == N
        assert sum(s in ("running", "compensating") for s in statuses) > 0, "the kill came after every saga ended"

        # After a kill past the commit, the replies in hand come back and must be recognised as duplicates.
        wait = ("--wait-duplicates",) if crash_at.startswith("consumer.after_commit") else ()
        restarted = await land.run("lending", str(N), *wait)
        assert restarted.returncode == 0, restarted.describe()

        expected = {
            f"R{i:05d}": ["reserve", "open", "close", "release"] if i % 3 == 0 else ["reserve", "open", "disburse"]
            for i in range(N)
        }
        assert await land.journals() == expected
        sagas = [json.loads(d) for d in (await land.rows("lending", "~saga")).values()]
        assert {s["data"]["ref"]: s["status"] for s in sagas} == {
            f"R{i:05d}": "compensated" if i % 3 == 0 else "completed" for i in range(N)
        }
        assert await land.rows("lending", "~request") == {}
        # The saga's on_end command ran once per saga, in the transaction that ended it.
        notices = {id: json.loads(d) for id, d in (await land.rows("lending", "Notice")).items()}
        assert sorted(notices) == [f"saga-R{i:05d}" for i in range(N)]
        assert {n["replies"] for n in notices.values()} == {1}

        sagas_before = await land.rows("lending", "~saga")
        notices_before = await land.rows("lending", "Notice")
        again = await land.run("lending", str(N), "--duplicate-replies")
        assert again.returncode == 0, again.describe()
        assert again.report["injected"] == len(await land.rows("partner", "~reply")) > 0
        assert again.report["dead_lettered"] == 0
        assert await land.rows("lending", "~saga") == sagas_before
        assert await land.rows("lending", "Notice") == notices_before
        assert await land.journals() == expected
    finally:
        (tmp_path / "stop").write_text("stop\n")
        await asyncio.to_thread(partner.wait, 30)
