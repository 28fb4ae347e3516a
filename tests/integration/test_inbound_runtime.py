"""The watcher in a running landscape, on every store: complete files only, once per content, and the
FileIngested event reaching another domain through the broker."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain
from interlink.patterns.inbound_file import FileIntake, IntakeSettings
from interlink.patterns.inbound_file.declarations import FileIngested
from interlink.runtime import Runtime, Settings
from tests.faults.apps.inbound_app import HEADER, applied, balances, expected_balances, ledger_domain, until


class FileSeen(Aggregate):
    """What the audit domain learnt about an ingested file."""

    outcome: str
    records: int
    accepted: int
    rejected: int


class NoteFile(BaseModel):
    """Input of note_file."""

    file_id: str
    outcome: str
    records: int
    accepted: int
    rejected: int


def audit_domain(event: type[FileIngested]) -> Domain:
    """A domain that reacts to the ledger's FileIngested events by recording them."""
    audit = Domain("audit")
    audit.aggregate(FileSeen)

    @audit.command
    async def note_file(ctx: Context, data: NoteFile) -> None:
        seen = FileSeen(id=data.file_id, **data.model_dump(exclude={"file_id"}))
        await ctx.save(seen)

    async def file_ingested(ctx: Context, e: FileIngested) -> None:
        await ctx.execute(note_file, e.model_dump())

    file_ingested.__annotations__ = {"ctx": Context, "e": event, "return": None}
    audit.on(event)(file_ingested)
    return audit


def _write_slowly(inbound: Path, rows: list[str]) -> None:
    """A slow writer: 50 rows every 0.2 s, under the settling time; the file is not claimed meanwhile."""
    path = inbound / "entries-1.csv"
    with open(path, "w") as out:
        out.write(f"{HEADER}\n")
        for first in range(0, len(rows), 50):
            out.write("".join(rows[first : first + 50]))
            out.flush()
            time.sleep(0.2)
            assert path.exists(), "not claimed while it grows"
            assert list((inbound / "processing").iterdir()) == []


async def test_watcher_reads_complete_files_once_and_tells_other_domains(store_url: str, tmp_path: Path) -> None:
    """A file written slowly is read once complete; its copy is a duplicate; the audit domain hears of it."""
    inbound = tmp_path / "in"
    ledger = ledger_domain(inbound, settle_seconds=0.6, batch_size=50)
    audit = audit_domain(ledger.inbound_files["entries"].event)
    settings = Settings(
        store_url=store_url, broker_url=f"sqlite:///{tmp_path}/broker.db", relay_poll_interval=0.05, fetch_wait=0.05
    )
    async with Runtime([ledger, audit], settings) as rt:
        intake = FileIntake(rt["ledger"], IntakeSettings(poll_interval=0.05))
        await intake.start()
        try:
            rows = [f"E{i:07d},A{i % 10},{i % 9 + 1}.00,\n" for i in range(300)]
            await asyncio.to_thread(_write_slowly, inbound, rows)
            await until(lambda: bool(intake.reports), within=30)
            (report,) = intake.reports
            assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 300, 300, 0)
            (inbound / "entries-copy.csv").write_text(f"{HEADER}\n{''.join(rows)}")
            await until(lambda: len(intake.reports) == 2, within=30)
            assert intake.reports[1].outcome == "duplicate"
            counts = await applied(rt["ledger"].store)
            assert (len(counts), set(counts.values())) == (300, {1})
            assert await balances(rt["ledger"].store) == expected_balances(300)
            audit_store = rt["audit"].store
            await until(lambda: audit_store.load("FileSeen", str(report.file_id)), within=30)
            seen = await audit_store.load("FileSeen", str(report.file_id))
            assert seen is not None
            assert {k: json.loads(seen.data)[k] for k in ("outcome", "records", "accepted", "rejected")} == {
                "outcome": "archived", "records": 300, "accepted": 300, "rejected": 0,
            }  # fmt: skip
        finally:
            await intake.stop()
