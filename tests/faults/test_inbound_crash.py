"""SIGKILL while a file is being ingested, restart, count: every record applied exactly once, none missed.

Each test runs on every store (``store_url``: SQLite and PostgreSQL). Entries count their applications and
accounts add up their amounts, so a record run twice or lost shows in the counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from interlink.runtime.backends import open_store
from tests.integration import conftest as integration

from .apps.inbound_app import applied, balances, expected_balances, until, write_entries

store_url = integration.store_url  # the integration suite's fixture: every store, fresh per test

pytestmark = pytest.mark.faults

APPS = Path(__file__).parent / "apps"
INTERLINK = str(Path(sys.executable).with_name("interlink"))
# Amount 0 is a business error: these rows are rejects, placed before, at and after the crash.
REJECTS = {70: "X70,A1,0,\n", 160: "X160,A2,0,\n", 400: "X400,A3,0,\n", 599: "X599,A4,0,\n"}


def _env(folder: Path, batch: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLINK_", "INBOUND_APP_"))}
    return env | {"PYTHONPATH": str(APPS), "INBOUND_APP_DIR": str(folder), "INBOUND_APP_BATCH": str(batch)} | extra


def _mixed_file(path: Path, count: int) -> None:
    write_entries(path, count)
    header, *rows = path.read_text().splitlines(keepends=True)
    for position in sorted(REJECTS, reverse=True):
        rows.insert(position, REJECTS[position])
    path.write_text(header + "".join(rows))


async def _counts(store_url: str) -> tuple[dict[str, int], dict[str, object]]:
    async with open_store(store_url, "ledger") as store:
        return await applied(store), dict(await balances(store))


def _applied_at_least(store_url: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len((await _counts(store_url))[0]) >= count

    return check


def _ingest(folder: Path, store_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [INTERLINK, "ingest", str(folder / "entries-1.csv"), "--app", "inbound_app:ledger", "--source"]
    command += ["entries", "--store", store_url, "--broker", "memory://", "--no-progress"]
    return subprocess.run(command, env=_env(folder, 50, **env), capture_output=True, text=True, timeout=120)


async def test_ingest_killed_after_a_commit_resumes_from_the_checkpoint(store_url: str, tmp_path: Path) -> None:
    """SIGKILL after the third batch commits; the rerun resumes: 600 entries once, 4 rejects once, counts balance."""
    _mixed_file(tmp_path / "entries-1.csv", 600)
    crashed = await asyncio.to_thread(_ingest, tmp_path, store_url, INTERLINK_CRASH_AT="ingest.after_commit:3")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    counts, _ = await _counts(store_url)
    assert (len(counts), set(counts.values())) == (149, {1}), "3 batches of 50, one of their records a reject"
    assert [p.name.split("--")[1] for p in sorted((tmp_path / "processing").iterdir())] == [
        "entries-1.csv", "entries-1.csv.rejects.jsonl",
    ]  # fmt: skip

    restarted = await asyncio.to_thread(_ingest, tmp_path, store_url)
    assert restarted.returncode == 0, restarted.stderr + restarted.stdout
    counts, found = await _counts(store_url)
    assert (len(counts), set(counts.values())) == (600, {1})
    assert found == expected_balances(600)
    (report,) = [json.loads(p.read_text()) for p in (tmp_path / "archive").glob("*.report.json")]
    assert (report["records"], report["accepted"], report["rejected"]) == (604, 600, 4)
    (rejects,) = (tmp_path / "archive").glob("*.rejects.jsonl")
    assert [json.loads(line)["raw"] for line in rejects.read_text().splitlines()] == [
        row.strip() for _, row in sorted(REJECTS.items())
    ]


async def test_watcher_killed_at_any_moment_resumes_on_restart(store_url: str, tmp_path: Path) -> None:
    """The watcher is SIGKILLed mid-file at an arbitrary moment; once restarted, every entry is applied exactly once."""
    inbound = tmp_path / "in"
    inbound.mkdir()
    _mixed_file(inbound / "entries-1.csv", 1500)
    command = [sys.executable, str(APPS / "inbound_app.py"), str(inbound), "--store", store_url]
    command += ["--batch", "20", "--until", "1504"]
    watcher = await asyncio.create_subprocess_exec(*command, env=_env(inbound, 20), stdout=asyncio.subprocess.DEVNULL)
    try:
        await until(_applied_at_least(store_url, 200), within=60)
        assert watcher.returncode is None, "finished before it could be killed"
        watcher.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(watcher.wait(), 10) == -signal.SIGKILL
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    killed_at = len((await _counts(store_url))[0])
    assert 200 <= killed_at < 1500
    restarted = await asyncio.create_subprocess_exec(*command, env=_env(inbound, 20), stderr=asyncio.subprocess.PIPE)
    _, errors = await asyncio.wait_for(restarted.communicate(), 120)
    assert restarted.returncode == 0, errors.decode()
    counts, found = await _counts(store_url)
    assert (len(counts), set(counts.values())) == (1500, {1})
    assert found == expected_balances(1500)
