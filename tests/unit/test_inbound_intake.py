"""The watcher: a file is read only once complete, once per content, by one worker, and resumed after a stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.patterns.inbound_file import FileIntake, FileReport, IntakeSettings
from interlink.runtime.domain_runtime import DomainRuntime
from tests.faults.apps.inbound_app import (
    HEADER,
    applied,
    balances,
    expected_balances,
    ledger_domain,
    until,
    write_entries,
)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _runtime(folder: Path, store: MemoryStore, **options: Any) -> DomainRuntime:
    return DomainRuntime(ledger_domain(folder, **options), store, MemoryBroker())


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A connected in-memory store of the ledger domain."""
    async with MemoryStore(domain="ledger") as s:
        yield s


async def _scan(intake: FileIntake) -> list[FileReport]:
    return await intake.scan(intake.workers[0])


async def test_a_file_still_being_written_is_not_read_until_it_settles(tmp_path: Path, store: MemoryStore) -> None:
    """While its size or mtime changes the file is left alone; once both hold for settle_seconds it is read whole."""
    clock = Clock()
    intake = FileIntake(_runtime(tmp_path, store, settle_seconds=5), clock=clock)
    path = tmp_path / "entries-1.csv"
    rows = [f"E{i},A{i % 3},1.00,\n" for i in range(30)]
    for written in (10, 20, 30):  # the writer adds ten rows at a time, less than settle_seconds apart
        path.write_text(f"{HEADER}\n{''.join(rows[:written])}")
        assert await _scan(intake) == []
        clock.now += 4
    assert await _scan(intake) == [], "unchanged, but not for 5 seconds yet"
    clock.now += 1
    (report,) = await _scan(intake)
    assert (report.outcome, report.records, report.accepted) == ("archived", 30, 30)
    assert len(await applied(store)) == 30


async def test_a_done_marker_makes_a_file_complete(tmp_path: Path, store: MemoryStore) -> None:
    """With done_marker, only a file with its ``.done`` marker is read, at once; the marker is removed."""
    clock = Clock()
    intake = FileIntake(_runtime(tmp_path, store, done_marker=True, settle_seconds=1), clock=clock)
    write_entries(tmp_path / "entries-1.csv", 5)
    write_entries(tmp_path / "entries-2.csv", 5, first=5)
    assert await _scan(intake) == []
    clock.now += 60
    assert await _scan(intake) == [], "settled does not count when markers are required"
    (tmp_path / "entries-2.csv.done").touch()
    (report,) = await _scan(intake)
    assert (report.name, report.outcome, report.accepted) == ("entries-2.csv", "archived", 5)
    assert not (tmp_path / "entries-2.csv.done").exists()
    assert (tmp_path / "entries-1.csv").exists()


async def test_the_same_file_dropped_twice_is_ingested_once(tmp_path: Path, store: MemoryStore) -> None:
    """Two copies under two names, and a third dropped later: one ingestion, two duplicates."""
    intake = FileIntake(_runtime(tmp_path, store, settle_seconds=0))
    write_entries(tmp_path / "entries-a.csv", 40)
    write_entries(tmp_path / "entries-b.csv", 40)
    first = await _scan(intake)
    write_entries(tmp_path / "entries-c.csv", 40)
    second = await _scan(intake)
    assert sorted(r.outcome for r in first + second) == ["archived", "duplicate", "duplicate"]
    assert set((await applied(store)).values()) == {1}
    assert await balances(store) == expected_balances(40)
    assert sorted(p.name.split("--")[1] for p in (tmp_path / "archive").glob("*.csv")) == [
        "entries-a.csv", "entries-b.csv", "entries-c.csv",
    ]  # fmt: skip


async def test_two_workers_on_one_directory_read_each_file_once(tmp_path: Path) -> None:
    """Two intakes (two workers) sharing the directory and the store scan at once: every file is read once."""
    async with (
        MemoryStore("memory://two-workers", domain="ledger") as a,
        MemoryStore("memory://two-workers", domain="ledger") as b,
    ):
        intakes = [FileIntake(_runtime(tmp_path, s, settle_seconds=0, batch_size=7)) for s in (a, b)]
        for n in range(8):
            write_entries(tmp_path / f"entries-{n}.csv", 25, first=n * 25)
        reports = await asyncio.gather(*(_scan(i) for i in intakes), *(_scan(i) for i in intakes))
        outcomes = [r.outcome for rs in reports for r in rs]
        assert outcomes.count("archived") == 8
        assert set(outcomes) <= {"archived", "busy"}
        counts = await applied(a)
        assert (len(counts), set(counts.values())) == (200, {1})


async def test_stop_leaves_the_file_claimed_in_processing_and_a_restart_resumes_it(
    tmp_path: Path, store: MemoryStore
) -> None:
    """Stopping the intake mid-file finishes the batch in hand; the next intake resumes from the checkpoint."""
    runtime = _runtime(tmp_path, store, settle_seconds=0, batch_size=20)
    write_entries(tmp_path / "entries-1.csv", 2000)
    intake = FileIntake(runtime, IntakeSettings(poll_interval=0.01))
    await intake.start()
    await until(lambda: applied(store), within=10)  # a first batch committed
    await intake.stop()
    assert [r.outcome for r in intake.reports] == ["interrupted"]
    assert 0 < intake.reports[0].records < 2000
    assert len(list((tmp_path / "processing").glob("*.csv"))) == 1
    again = FileIntake(runtime, IntakeSettings(poll_interval=0.01))
    await again.start()
    await until(lambda: bool(again.reports), within=20)
    await again.stop()
    (report,) = again.reports
    assert (report.outcome, report.records, report.accepted) == ("archived", 2000, 2000)
    counts = await applied(store)
    assert (len(counts), set(counts.values())) == (2000, {1})


async def test_the_log_line_of_a_file_counts_its_accepted_and_rejected_records(
    tmp_path: Path, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The line logged per file says its outcome and how many records were read, accepted and rejected."""
    intake = FileIntake(_runtime(tmp_path, store, settle_seconds=0))
    (tmp_path / "entries-1.csv").write_text(f"{HEADER}\nE1,A1,1.00,\nE2,A2,not-a-number,\nE3,A1,2.00,\n")
    with caplog.at_level("INFO", logger="interlink.inbound_file"):
        (report,) = await _scan(intake)
    assert (report.records, report.accepted, report.rejected) == (3, 2, 1)
    assert "inbound file entries-1.csv: archived, 3 records: 2 accepted, 1 rejected" in caplog.messages
