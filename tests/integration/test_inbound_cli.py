"""``interlink ingest`` as a user runs it: a real process on SQLite, its exit codes, its output, its memory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from interlink.runtime.backends import open_store
from tests.faults.apps.inbound_app import HEADER, write_entries

APPS = Path(__file__).resolve().parents[1] / "faults" / "apps"
INTERLINK = str(Path(sys.executable).with_name("interlink"))


def ingest(folder: Path, name: str, *args: str, source: str = "entries", batch: int = 100) -> subprocess.Popen[str]:
    """Start ``interlink ingest`` on ``folder/in/name`` with the ledger of inbound_app, stores in ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLINK_", "INBOUND_APP_"))}
    env |= {
        "PYTHONPATH": str(APPS),
        "INBOUND_APP_DIR": str(folder / "in"),
        "INBOUND_APP_BATCH": str(batch),
        "COLUMNS": "200",
    }
    command = [INTERLINK, "ingest", str(folder / "in" / name), "--app", "inbound_app:ledger", "--source", source]
    command += ["--store", f"sqlite:///{folder}/{{domain}}.db", "--broker", f"sqlite:///{folder}/broker.db", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(folder: Path, name: str, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """Run ``interlink ingest`` to the end."""
    process = ingest(folder, name, *args, **options)  # type: ignore[arg-type]
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder with the ledger's inbound directory."""
    (tmp_path / "in").mkdir()
    return tmp_path


async def test_ingest_prints_the_counts_and_publishes_the_event(folder: Path) -> None:
    """Exit 0 with the counts, the report and the rejects named; the FileIngested event left the outbox."""
    write_entries(folder / "in" / "entries-1.csv", 250, extra="X1,A1,0,\nX2,B1,1.00,\n")
    result = run(folder, "entries-1.csv")
    assert result.returncode == 0, result.stderr
    assert "archived" in result.stdout
    assert "records read │ 252" in result.stdout
    assert "accepted     │ 250" in result.stdout
    assert "rejected     │ 2" in result.stdout
    (report,) = (folder / "in" / "archive").glob("*.report.json")
    assert json.loads(report.read_text())["records"] == 252
    assert len(list((folder / "in" / "archive").glob("*.rejects.jsonl"))) == 1
    async with open_store(f"sqlite:///{folder}/{{domain}}.db", "ledger") as store:
        assert (await store.outbox_status()).pending == 0, "the relay published FileIngested"


def test_a_second_copy_is_skipped_unless_forced(folder: Path) -> None:
    """The same content again exits 0 as a duplicate; with --force it is ingested again."""
    write_entries(folder / "in" / "entries-1.csv", 20)
    assert run(folder, "entries-1.csv").returncode == 0
    write_entries(folder / "in" / "entries-2.csv", 20)
    again = run(folder, "entries-2.csv")
    assert (again.returncode, "duplicate" in again.stdout) == (0, True), again.stdout
    write_entries(folder / "in" / "entries-3.csv", 20)
    forced = run(folder, "entries-3.csv", "--force", "--no-progress")
    assert (forced.returncode, "accepted     │ 20" in forced.stdout) == (0, True), forced.stdout


def test_refusals_and_aborts_exit_non_zero_with_the_reason(folder: Path) -> None:
    """A path outside the directory exits 2 with one line after the store line; a refused file exits 1 naming
    the hazard."""
    (folder / "elsewhere.csv").write_text(f"{HEADER}\n")
    outside = run(folder, "../elsewhere.csv")
    assert outside.returncode == 2
    assert outside.stderr.strip().splitlines() == [
        f"ledger: store sqlite:///{folder}/ledger.db",  # which store it read, then why it stopped
        f"error: {folder}/in/../elsewhere.csv is outside the inbound directory {folder}/in",
    ]
    assert (folder / "elsewhere.csv").exists()
    (folder / "in" / "entries-bad.csv").write_bytes(f"{HEADER}\nE1,A1,1.00,caf\xe9\n".encode("latin-1"))
    refused = run(folder, "entries-bad.csv")
    assert refused.returncode == 1
    assert "refused" in refused.stdout
    assert "not valid utf-8" in refused.stdout


def _peak_rss(folder: Path, rows: int) -> tuple[int, float]:
    """Ingest ``rows`` records through the bulk source; (records accepted, the process's peak RSS in MiB)."""
    path = folder / "in" / f"bulk-{rows}.csv"
    with open(path, "w") as out:
        out.write(f"{HEADER}\n")
        for first in range(0, rows, 10_000):
            out.write("".join(f"B{i:08d},A{i % 1000},{i % 97 + 1}.25,\n" for i in range(first, first + 10_000)))
    process = ingest(folder, path.name, "--no-progress", source="bulk", batch=500)
    assert process.stdout is not None
    assert process.stderr is not None
    output, errors = process.stdout.read(), process.stderr.read()  # reads until the process exits
    _, status, usage = os.wait4(process.pid, 0)  # its own peak RSS, not the test's
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    process.stderr.close()
    assert process.returncode == 0, errors
    report = json.loads(next((folder / "in" / "archive").glob(f"*--bulk-{rows}.csv.report.json")).read_text())
    assert (report["records"], report["accepted"], report["rejected"]) == (rows, rows, 0), output
    with sqlite3.connect(folder / "ledger.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM interlink_aggregates WHERE id LIKE 'B%'").fetchone()
    db.close()
    return stored, usage.ru_maxrss / 1024


@pytest.mark.slow
def test_a_million_rows_are_all_accounted_for_in_flat_memory(tmp_path: Path) -> None:
    """1,000,000 rows: every one stored once, and peak RSS about what 100,000 rows take (generous bound)."""
    small, large = tmp_path / "small", tmp_path / "large"
    for folder in (small, large):
        (folder / "in").mkdir(parents=True)
    stored_small, rss_small = _peak_rss(small, 100_000)
    stored_large, rss_large = _peak_rss(large, 1_000_000)
    assert (stored_small, stored_large) == (100_000, 1_000_000)
    print(f"peak RSS: 100k rows {rss_small:.1f} MiB, 1M rows {rss_large:.1f} MiB")
    # Ten times the rows may not cost more than a quarter more memory plus 32 MiB of slack (allocator,
    # SQLite page cache); memory that grew with the file would be hundreds of MiB more.
    assert rss_large < rss_small * 1.25 + 32, (rss_small, rss_large)
