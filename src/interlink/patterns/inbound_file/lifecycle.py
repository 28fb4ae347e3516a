"""One file's way through a source's folders: refused, or claimed, ingested and archived.

Claiming takes two steps, each atomic: renaming the file into ``processing/<file id>--<name>`` (of two
workers sharing the directory, one rename wins), then a row in the domain's store, unique per file id and
per content (of two files with the same SHA-256, one claim wins; the other is a duplicate). A crash between
the two leaves a file in ``processing/`` without a row, which the next scan claims; a crash after the final
commit leaves a finished row whose file is still in ``processing/``, which the next scan moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from interlink.exceptions import AdapterError, ConcurrencyError
from interlink.observability import tracing
from interlink.patterns.inbound_file.declarations import InboundFileSpec
from interlink.patterns.inbound_file.errors import FileRefused
from interlink.patterns.inbound_file.files import MARKER, Folders, hazard, open_checked
from interlink.patterns.inbound_file.ingestion import Ingestion
from interlink.patterns.inbound_file.readers import read_records
from interlink.patterns.inbound_file.rejects import RejectsFile
from interlink.patterns.inbound_file.reports import REJECTS, FileReport, place, result_document
from interlink.patterns.inbound_file.streams import open_text, prescan
from interlink.patterns.pattern import Host as IntakeHost
from interlink.ports.ids import random_hex
from interlink.ports.store import InboundFile

__all__ = ["SourceWorker", "new_owner", "parse_claimed"]

log = logging.getLogger("interlink.inbound_file")

_CLAIMED = re.compile(r"^([0-9a-f]{16})--(.+)$")


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
        if held is not None:
            if held.source != self.spec.name:
                return FileReport(self.spec.name, name, "busy", f"claimed by source {held.source!r}", file_id)
            if held.state != "processing":
                return await self._settle(path, held)
            # Taken over before it is read again: a file another worker holds is not even hashed.
            held = await self._claim(replace(held, owner=self.owner))
            if held.owner != self.owner:
                return FileReport(self.spec.name, name, "busy", f"held by {held.owner}", file_id)
        try:
            facts = await asyncio.to_thread(prescan, path, self.spec, name)
            if held is not None and held.sha256 != facts.sha256:
                raise FileRefused(f"{name} changed since it was claimed (its SHA-256 differs)")
        except FileRefused as exc:
            if held is None:
                return await self._refuse(path, file_id, name, exc.reason)
            return await self._fail(path, held, exc.reason)
        if held is None:
            mine = InboundFile(file_id, self.spec.name, name, facts.sha256, facts.size, self.owner, forced=force)
            held = await self._claim(mine)
            if held.file_id != file_id:
                return await self._duplicate(path, file_id, name, held)
            if held.owner != self.owner:
                return FileReport(self.spec.name, name, "busy", f"held by {held.owner}", file_id)
        with tracing.inbound_file(self._host.domain.name, self.spec.name, name):
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
        try:
            complete, reason = await self._read(path, ingestion, stop)
            if not complete:
                await self._host.store.claim_file(file, 0)  # a lease of 0: whoever scans next may resume it
                return FileReport(
                    self.spec.name, file.name, "interrupted", None, file.file_id,
                    ingestion.checkpoint, ingestion.accepted, ingestion.rejected,
                )  # fmt: skip
            return await self._finish(path, ingestion, reason or ingestion.aborted)
        except ConcurrencyError as exc:  # ClaimLost, or a commit refused after the claim moved on
            return FileReport(self.spec.name, file.name, "busy", str(exc), file.file_id)
        finally:
            heartbeat.cancel()

    async def _read(self, path: Path, ingestion: Ingestion, stop: Callable[[], bool]) -> tuple[bool, str | None]:
        """(False if stopped before the end, why the file cannot go on or None)."""
        name = ingestion.file.name
        try:
            with open_checked(path, self.spec.limits) as raw, open_text(raw, self.spec, name) as text:
                return await ingestion.run(read_records(text, self.spec), stop), None
        except FileRefused as exc:
            return True, exc.reason
        except UnicodeDecodeError as exc:  # the pre-scan passed: the file changed since
            return True, f"{name} is not valid {self.spec.format.encoding} any more: {exc}"

    async def _fail(self, path: Path, file: InboundFile, reason: str) -> FileReport:
        """A claimed file that cannot go on: its end is committed (with the event) as failed."""
        rejects = RejectsFile(path.with_name(path.name + REJECTS), file.rejects_bytes)
        return await self._finish(path, Ingestion(self._host, self.spec, file, rejects, lease=self.lease), reason)

    async def _finish(self, path: Path, ingestion: Ingestion, reason: str | None) -> FileReport:
        file = ingestion.file
        outcome: Literal["archived", "failed"] = "failed" if reason else "archived"
        has_rejects = ingestion.rejected > 0
        document = result_document(self.spec.name, self.owner, ingestion, outcome, reason, has_rejects)
        await ingestion.finish(outcome, reason, document)
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

    # -- final moves -------------------------------------------------------------------------------

    async def _settle(self, path: Path, file: InboundFile) -> FileReport:
        """Move a finished file, its rejects and its report to archive/ or failed/ (idempotent)."""
        document = json.loads(file.report or "{}")
        folder = self.folders.archive if file.state == "archived" else self.folders.failed
        return await asyncio.to_thread(place, self.spec.name, path, folder, document)

    async def _refuse(self, path: Path, file_id: str, name: str, reason: str) -> FileReport:
        log.warning("inbound file %s refused: %s", name, reason)
        document = {"source": self.spec.name, "file": name, "file_id": file_id, "outcome": "refused", "reason": reason}
        return await asyncio.to_thread(place, self.spec.name, path, self.folders.failed, document, f"{file_id}--{name}")

    async def _duplicate(self, path: Path, file_id: str, name: str, held: InboundFile) -> FileReport:
        reason = f"same content (SHA-256 {held.sha256[:16]}...) as {held.name} (file {held.file_id}, {held.state})"
        document = {
            "source": self.spec.name, "file": name, "file_id": file_id, "outcome": "duplicate", "reason": reason,
            "duplicate_of": held.file_id, "sha256": held.sha256, "records": 0, "accepted": 0, "rejected": 0,
        }  # fmt: skip
        return await asyncio.to_thread(place, self.spec.name, path, self.folders.archive, document)
