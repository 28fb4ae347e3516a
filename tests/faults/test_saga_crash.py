"""SIGKILL the issuing domain in the middle of its sagas, restart it: every saga ends once, as it should.

Two real processes on SQLite files (embedded broker): ``partner`` runs the steps, ``lending`` starts 30
sagas (every third fails at step 3) and handles the replies. ``lending`` is killed at a crash point of its
consumer, restarted, and must bring every saga to its end; the partner's journal shows each step and
each compensation run once, in order. Then every reply the partner stored is sent again, and nothing
changes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys

import pytest

from interlink.testing.waiting import wait_until

from .support import APPS, Run, Workdir, finish_runner, subprocess_env

pytestmark = pytest.mark.faults

N = 30
SAGA_APP = APPS / "saga_app.py"


def _start(workdir: Workdir, *args: str, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = subprocess_env(**({"INTERLINK_CRASH_AT": crash_at} if crash_at else {}))
    tag = f"{args[0]}-{crash_at or 'clean'}-{len(list(workdir.path.glob('*.out')))}".replace(":", "_")
    with (workdir.path / f"{tag}.out").open("wb") as out, (workdir.path / f"{tag}.err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SAGA_APP), *args], stdout=out, stderr=err, env=env, cwd=workdir.path
        )
    proc.tag = tag  # type: ignore[attr-defined]
    return proc


async def _run(workdir: Workdir, *args: str, crash_at: str | None = None) -> Run:
    proc = _start(workdir, *args, crash_at=crash_at)
    tag = proc.tag  # type: ignore[attr-defined]
    return await asyncio.to_thread(finish_runner, proc, workdir.path / f"{tag}.out", workdir.path / f"{tag}.err", 90)


def _rows(workdir: Workdir, db: str, kind: str) -> dict[str, str]:
    with sqlite3.connect(f"file:{workdir.path / db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id, data FROM interlink_aggregates WHERE kind = ?", (kind,)).fetchall()
    conn.close()
    return {str(id): str(data) for id, data in rows}


def _journals(workdir: Workdir) -> dict[str, list[str]]:
    return {id: json.loads(data)["entries"] for id, data in _rows(workdir, "partner.db", "Journal").items()}


@pytest.mark.parametrize("crash_at", ["consumer.before_commit:4", "consumer.after_commit:4"], ids=lambda s: s[:-2])
async def test_an_issuer_killed_mid_saga_resumes_and_ends_every_saga_once(workdir: Workdir, crash_at: str) -> None:
    """Killed at its 4th batch of replies and restarted, lending ends all 30 sagas; steps and compensations
    ran once each, in order; replies sent again afterwards change nothing."""
    partner = _start(workdir, "partner", str(workdir.path), "--timeout", "240")
    try:
        # The subscription must exist before the first publish: the broker fans out at publish time.
        await wait_until(
            lambda: (workdir.path / "partner.ready").exists() or partner.poll() is not None,
            timeout=30,
            what="the partner process to subscribe",
        )
        assert partner.poll() is None, "the partner process ended early"
        crashed = await _run(workdir, "lending", str(workdir.path), str(N), crash_at=crash_at)
        assert crashed.returncode == -9, crashed.describe()
        statuses = [json.loads(d)["status"] for d in _rows(workdir, "lending.db", "~saga").values()]
        assert len(statuses) == N
        assert sum(s in ("running", "compensating") for s in statuses) > 0, "the kill came after every saga ended"

        restarted = await _run(workdir, "lending", str(workdir.path), str(N))
        assert restarted.returncode == 0, restarted.describe()
        if crash_at.startswith("consumer.after_commit"):
            assert restarted.report["duplicates"] >= 1, restarted.describe()

        sagas = {json.loads(d)["data"]["ref"]: json.loads(d) for d in _rows(workdir, "lending.db", "~saga").values()}
        expected = {
            f"R{i:05d}": ["reserve", "open", "close", "release"] if i % 3 == 0 else ["reserve", "open", "disburse"]
            for i in range(N)
        }
        assert _journals(workdir) == expected
        assert {ref: s["status"] for ref, s in sagas.items()} == {
            f"R{i:05d}": "compensated" if i % 3 == 0 else "completed" for i in range(N)
        }
        assert _rows(workdir, "lending.db", "~request") == {}
        # The saga's on_end command ran once per saga, in the transaction that ended it.
        notices = {id: json.loads(d) for id, d in _rows(workdir, "lending.db", "Notice").items()}
        assert sorted(notices) == [f"saga-R{i:05d}" for i in range(N)]
        assert {n["replies"] for n in notices.values()} == {1}

        before = _rows(workdir, "lending.db", "~saga")
        notices_before = _rows(workdir, "lending.db", "Notice")
        again = await _run(workdir, "lending", str(workdir.path), str(N), "--duplicate-replies")
        assert again.returncode == 0, again.describe()
        assert again.report["injected"] == len(_rows(workdir, "partner.db", "~reply")) > 0
        assert again.report["dead_lettered"] == 0
        assert _rows(workdir, "lending.db", "~saga") == before
        assert _rows(workdir, "lending.db", "Notice") == notices_before
        assert _journals(workdir) == expected
    finally:
        (workdir.path / "stop").write_text("stop\n")
        await asyncio.to_thread(partner.wait, 30)
