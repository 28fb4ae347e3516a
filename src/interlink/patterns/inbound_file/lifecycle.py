"""One file's way through a source's folders: refused, or claimed, ingested and archived.

Claiming takes two steps, each atomic: renaming the file into ``processing/<file id>--<name>`` (of two
workers sharing the directory, one rename wins), then a row in the domain's store, unique per file id and
per content (of two files with the same SHA-256, one claim wins; the other is a duplicate). A crash between
the two leaves a file in ``processing/`` without a row, which the next scan claims; a crash after the final
commit leaves a finished row whose file is still in ``processing/``, which the next scan moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from interlink.core.inbound import InboundFileSpec
from interlink.delivery.ids import random_hex
from interlink.exceptions import AdapterError, ConcurrencyError
from interlink.patterns.inbound_file.errors import FileRefused
from interlink.patterns.inbound_file.files import MARKER, Folders, hazard, open_checked, write_json
from interlink.patterns.inbound_file.host import IntakeHost
from interlink.patterns.inbound_file.ingestion import Ingestion
from interlink.patterns.inbound_file.readers import read_records
from interlink.patterns.inbound_file.rejects import RejectsFile
from interlink.patterns.inbound_file.streams import open_text, prescan
from interlink.ports.store import InboundFile

__all__ = ["FileReport", "Outcome", "SourceWorker", "new_owner", "parse_claimed"]

log = logging.getLogger("interlink.inbound_file")

Outcome = Literal["archived", "failed", "duplicate", "refused", "busy", "interrupted"]
REJECTS = ".rejects.jsonl"
REPORT = ".report.json"
_CLAIMED = re.compile(r"^([0-9a-f]{16})--(.+)$")


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


def new_owner() -> str:
    """A worker's name in claims: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{random_hex(3)}"


def parse_claimed(name: str) -> tuple[str, str] | None:
    """(file id, original name) of an entry of ``processing/``, None for anything else there."""
    found = _CLAIMED.match(name)
    if found is None or name.endswith(REJECTS):
        return None
    return found[1], found[2]


def _dead(owner: str) -> bool:
    """True when ``owner`` is a process of this host that no longer exists (its claim can go at once)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SourceWorker:
    """Takes the files of one inbound file source from dropped to archived, as worker ``owner``."""

    def __init__(self, host: IntakeHost, spec: InboundFileSpec, *, owner: str, lease: float) -> None:
        self.spec = spec
        self.owner = owner
        self.lease = lease
        self.folders = Folders(Path(spec.directory))
        self._host = host

    async def take(
        self,
        path: Path,
        *,
        force: bool = False,
        on_progress: Callable[[Ingestion], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FileReport | None:
        """A file dropped in the directory: refuse it, or move it into processing/ and process it there.
        None when another worker moved it first."""
        file_id = random_hex(8)
        try:
            why = hazard(path, self.spec.limits)
        except FileNotFoundError:
            return None
        if why is not None:
            return await self._refuse(path, file_id, path.name, why)
        claimed = self.folders.processing / f"{file_id}--{path.name}"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        path.with_name(path.name + MARKER).unlink(missing_ok=True)
        return await self.process(claimed, force=force, on_progress=on_progress, stop=stop)

    async def process(
        self,
        path: Path,
        *,
        force: bool = False,
        on_progress: Callable[[Ingestion], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FileReport:
        """A file in processing/: claim it in the store (or take its claim over) and ingest it from its
        checkpoint; or finish moving it, if it was finished before a crash."""
        parsed = parse_claimed(path.name)
        if parsed is None:
            raise FileRefused(f"{path.name} is not a claimed file (<file id>--<name>)")
        file_id, name = parsed
        held = await self._host.store.inbound_file(file_id)
        if held is not None and held.state != "processing":
            return await self._settle(path, held)
        # Vetted again on a resume too: a file changed since its claim must not continue from a checkpoint.
        try:
            facts = await asyncio.to_thread(prescan, path, self.spec)
            if held is not None and held.sha256 != facts.sha256:
                raise FileRefused(f"{name} changed since it was claimed (its SHA-256 differs)")
        except FileRefused as exc:
            if held is None:
                return await self._refuse(path, file_id, name, exc.reason)
            return await self._fail(path, held, exc.reason)
        mine = InboundFile(file_id, self.spec.name, name, facts.sha256, facts.size, self.owner, forced=force)
        held = await self._claim(mine if held is None else replace(held, owner=self.owner))
        if held.file_id != file_id:
            return await self._duplicate(path, file_id, name, held)
        if held.owner != self.owner:
            return FileReport(self.spec.name, name, "busy", f"held by {held.owner}", file_id)
        return await self._ingest(path, held, facts.lines, on_progress, stop)

    async def _claim(self, file: InboundFile) -> InboundFile:
        store = self._host.store
        held = await store.claim_file(file, self.lease)
        if held.file_id == file.file_id and held.owner != file.owner and _dead(held.owner):
            held = await store.claim_file(file, self.lease, replace_owner=held.owner)
        return held

    async def _ingest(
        self,
        path: Path,
        file: InboundFile,
        lines: int,
        on_progress: Callable[[Ingestion], None] | None,
        stop: Callable[[], bool],
    ) -> FileReport:
        rejects = RejectsFile(path.with_name(path.name + REJECTS), file.rejects_bytes)
        ingestion = Ingestion(self._host, self.spec, file, rejects, lease=self.lease, on_progress=on_progress)
        ingestion.lines_total = lines
        heartbeat = asyncio.create_task(self._heartbeat(file))
        reason: str | None = None
        try:
            with open_checked(path, self.spec.limits) as raw, open_text(raw, self.spec, file.name) as text:
                complete = await ingestion.run(read_records(text, self.spec), stop)
        except FileRefused as exc:
            reason, complete = exc.reason, True
        except UnicodeDecodeError as exc:  # the pre-scan passed: the file changed since
            reason, complete = f"{file.name} is not valid {self.spec.format.encoding} any more: {exc}", True
        except ConcurrencyError as exc:  # ClaimLost, or a commit refused after the claim moved on
            return FileReport(self.spec.name, file.name, "busy", str(exc), file.file_id)
        finally:
            heartbeat.cancel()
        if not complete:
            await self._host.store.claim_file(file, 0)  # a lease of 0: whoever scans next may resume it
            return FileReport(
                self.spec.name, file.name, "interrupted", None, file.file_id,
                ingestion.checkpoint, ingestion.accepted, ingestion.rejected,
            )  # fmt: skip
        return await self._finish(path, ingestion, reason or ingestion.aborted)

    async def _fail(self, path: Path, file: InboundFile, reason: str) -> FileReport:
        """A claimed file that cannot go on: its end is committed (with the event) as failed."""
        rejects = RejectsFile(path.with_name(path.name + REJECTS), file.rejects_bytes)
        return await self._finish(path, Ingestion(self._host, self.spec, file, rejects, lease=self.lease), reason)

    async def _finish(self, path: Path, ingestion: Ingestion, reason: str | None) -> FileReport:
        file = ingestion.file
        outcome: Literal["archived", "failed"] = "failed" if reason else "archived"
        has_rejects = ingestion.rejected > 0
        await ingestion.finish(outcome, reason, self._document(file, ingestion, outcome, reason, has_rejects))
        finished = await self._host.store.inbound_file(file.file_id)
        assert finished is not None
        return await self._settle(path, finished)

    async def _heartbeat(self, file: InboundFile) -> None:
        """Renew the lease while a batch takes long (its commit renews it too)."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._host.store.claim_file(file, self.lease)
            except AdapterError as exc:
                log.warning("inbound file %s: could not renew the claim: %s", file.name, exc)

    def _document(
        self, file: InboundFile, ingestion: Ingestion, outcome: str, reason: str | None, rejects: bool
    ) -> dict[str, Any]:
        claimed = f"{file.file_id}--{file.name}"
        return {
            "source": self.spec.name,
            "file": file.name,
            "file_id": file.file_id,
            "sha256": file.sha256,
            "size": file.size,
            "outcome": outcome,
            "reason": reason,
            "records": ingestion.checkpoint,
            "accepted": ingestion.accepted,
            "rejected": ingestion.rejected,
            "rejects_file": claimed + REJECTS if rejects else None,
            "claimed_at": _iso(file.claimed_at),
            "finished_at": _iso(None),
            "worker": self.owner,
        }

    # -- final moves -------------------------------------------------------------------------------

    async def _settle(self, path: Path, file: InboundFile) -> FileReport:
        """Move a finished file, its rejects and its report to archive/ or failed/ (idempotent)."""
        document = json.loads(file.report or "{}")
        folder = self.folders.archive if file.state == "archived" else self.folders.failed
        return await asyncio.to_thread(self._place, path, folder, document)

    async def _refuse(self, path: Path, file_id: str, name: str, reason: str) -> FileReport:
        log.warning("inbound file %s refused: %s", name, reason)
        document = {"source": self.spec.name, "file": name, "file_id": file_id, "outcome": "refused", "reason": reason}
        return await asyncio.to_thread(self._place, path, self.folders.failed, document, f"{file_id}--{name}")

    async def _duplicate(self, path: Path, file_id: str, name: str, held: InboundFile) -> FileReport:
        reason = f"same content (SHA-256 {held.sha256}) as {held.name} (file {held.file_id}, {held.state})"
        document = {
            "source": self.spec.name, "file": name, "file_id": file_id, "outcome": "duplicate", "reason": reason,
            "duplicate_of": held.file_id, "sha256": held.sha256, "records": 0, "accepted": 0, "rejected": 0,
        }  # fmt: skip
        return await asyncio.to_thread(self._place, path, self.folders.archive, document)

    def _place(self, path: Path, folder: Path, document: dict[str, Any], entry: str | None = None) -> FileReport:
        # The file moves last: while it is still where it was, a crash here is finished by the next scan.
        target = folder / (entry or path.name)
        rejects = path.with_name(path.name + REJECTS)
        rejects_target = target.with_name(target.name + REJECTS)
        if rejects.exists():
            os.replace(rejects, rejects_target)
        report = target.with_name(target.name + REPORT)
        write_json(report, document)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, target)
        return FileReport(
            source=self.spec.name,
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
