"""The result of a file: its report (JSON, beside the file in archive/ or failed/) and the final moves."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from interlink.patterns.inbound_file.files import write_json
from interlink.patterns.inbound_file.ingestion import Ingestion

__all__ = ["REJECTS", "REPORT", "FileReport", "Outcome", "place", "result_document"]

Outcome = Literal["archived", "failed", "duplicate", "refused", "busy", "interrupted"]
REJECTS = ".rejects.jsonl"
REPORT = ".report.json"


@dataclass(frozen=True)
class FileReport:
    """What became of one file. ``busy``: another worker holds it; ``interrupted``: stopped between two
    batches, to be resumed; the others are final, with the file in ``path`` and the report beside it."""

    source: str
    name: str
    outcome: Outcome
    reason: str | None = None
    file_id: str | None = None
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    path: Path | None = None
    report_path: Path | None = None
    rejects_path: Path | None = None


def result_document(
    source: str, worker: str, ingestion: Ingestion, outcome: str, reason: str | None, rejects: bool
) -> dict[str, Any]:
    """The report of a claimed file that reached its end (stored with its final state, then written out)."""
    file = ingestion.file
    return {
        "source": source,
        "file": file.name,
        "file_id": file.file_id,
        "sha256": file.sha256,
        "size": file.size,
        "outcome": outcome,
        "reason": reason,
        "records": ingestion.checkpoint,
        "accepted": ingestion.accepted,
        "rejected": ingestion.rejected,
        "rejects_file": f"{file.file_id}--{file.name}{REJECTS}" if rejects else None,
        "claimed_at": _iso(file.claimed_at),
        "finished_at": _iso(None),
        "worker": worker,
    }


def place(source: str, path: Path, folder: Path, document: dict[str, Any], entry: str | None = None) -> FileReport:
    """Move a file (as ``entry``, its own name by default) and its rejects to ``folder`` and write its report
    beside them; idempotent, so a move cut short by a crash is finished by the next scan."""
    target = folder / (entry or path.name)
    rejects = path.with_name(path.name + REJECTS)
    rejects_target = target.with_name(target.name + REJECTS)
    if rejects.exists():
        os.replace(rejects, rejects_target)
    report = target.with_name(target.name + REPORT)
    write_json(report, document)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)  # last: while it is still in processing/, the next scan finishes the move
    return FileReport(
        source=source,
        name=document.get("file", path.name),
        outcome=document.get("outcome", "failed"),
        reason=document.get("reason"),
        file_id=document.get("file_id"),
        records=document.get("records", 0),
        accepted=document.get("accepted", 0),
        rejected=document.get("rejected", 0),
        path=target,
        report_path=report,
        rejects_path=rejects_target if rejects_target.exists() else None,
    )


def _iso(timestamp: float | None) -> str:
    moment = datetime.now(UTC) if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds")
