"""The two ways in: :class:`FileIntake` watches the directories of a running domain, :func:`ingest_file`
ingests one file now (``interlink ingest``).

A watched file is only read once it is complete: its ``<name>.done`` marker exists, or (unless the source
requires markers) its size and modification time stayed the same for the source's ``settle_seconds``.
Each scan first resumes the files left in ``processing/`` (a crash, a stop, a lease that ran out), then
takes the complete new ones, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from interlink.exceptions import AdapterError, ConfigurationError
from interlink.patterns.inbound_file.declarations import InboundFileSpec, inbound_files_of
from interlink.patterns.inbound_file.errors import FileRefused
from interlink.patterns.inbound_file.files import MARKER, inside
from interlink.patterns.inbound_file.ingestion import Ingestion
from interlink.patterns.inbound_file.lifecycle import SourceWorker, new_owner, parse_claimed
from interlink.patterns.inbound_file.reports import FileReport
from interlink.patterns.pattern import Host as IntakeHost

__all__ = ["FileIntake", "IntakeSettings", "ingest_file"]

log = logging.getLogger("interlink.inbound_file")


@dataclass(frozen=True)
class IntakeSettings:
    """How often directories are scanned, and how long a claim lasts without news from its worker."""

    poll_interval: float = 1.0
    lease: float = 30.0


def _source(host: IntakeHost, name: str) -> InboundFileSpec:
    try:
        return inbound_files_of(host.domain)[name]
    except KeyError:
        known = ", ".join(sorted(inbound_files_of(host.domain))) or "none"
        raise ConfigurationError(f"domain {host.domain.name!r} has no inbound file {name!r}; it has: {known}") from None


async def ingest_file(
    host: IntakeHost,
    source: str,
    path: Path,
    *,
    force: bool = False,
    lease: float = 30.0,
    on_progress: Callable[[Ingestion], None] | None = None,
) -> FileReport:
    """Ingest one file of the source's directory now (or resume it: a path in ``processing/``, or the name of
    a file that is there). ``force`` ingests content ingested before. FileRefused for a path outside the
    directory; the other refusals come back as a report, the file moved to ``failed/``."""
    worker = SourceWorker(host, _source(host, source), owner=new_owner(), lease=lease)
    claimed, target = _locate(worker, path)
    if claimed:
        return await worker.process(target, force=force, on_progress=on_progress)
    report = await worker.take(target, force=force, on_progress=on_progress)
    if report is None:
        raise FileRefused(f"{path} was taken by another worker meanwhile")
    return report


def _locate(worker: SourceWorker, path: Path) -> tuple[bool, Path]:
    """(already in processing/?, where) for a path given to :func:`ingest_file`."""
    worker.folders.ensure()
    target = inside(worker.folders, path)
    name = (parse_claimed(target.name) or ("", target.name))[1]
    if not fnmatch.fnmatchcase(name, worker.spec.pattern):
        raise FileRefused(f"{name} does not match {worker.spec.pattern!r}, the pattern of source {worker.spec.name!r}")
    if target.parent != Path(os.path.realpath(worker.folders.root)):
        return True, target
    if os.path.lexists(target):
        return False, target
    # Not there any more: a run that crashed or was stopped left it in processing/ under a file id.
    claimed = [p for p in worker.folders.processing.iterdir() if (parse_claimed(p.name) or ("", ""))[1] == path.name]
    if len(claimed) != 1:
        raise FileRefused(
            f"{path} does not exist" + (f" ({len(claimed)} claimed files have its name)" if claimed else "")
        )
    return True, claimed[0]


class FileIntake:
    """Watches every inbound file source of a running domain; ``start()`` and ``stop()`` follow the runtime.

    Stopping finishes the batch in hand and leaves the file in ``processing/``, its claim released, for the
    next scan (here or in another process) to resume.
    """

    def __init__(
        self, host: IntakeHost, settings: IntakeSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or IntakeSettings()
        self._clock = clock
        self.workers = [
            SourceWorker(host, spec, owner=new_owner(), lease=self.settings.lease)
            for spec in inbound_files_of(host.domain).values()
        ]
        #: The most recent reports, newest last.
        self.reports: deque[FileReport] = deque(maxlen=1000)
        self._seen: dict[Path, tuple[int, int, float]] = {}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Create the sources' folders and start watching them."""
        for worker in self.workers:
            worker.folders.ensure()
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._watch(w), name=f"inbound-file-{w.spec.name}") for w in self.workers]

    async def stop(self) -> None:
        """Stop after the batch in hand; files being read stay in processing/ to be resumed."""
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def scan(self, worker: SourceWorker) -> list[FileReport]:
        """One pass over a source: resume what is in processing/, then take the complete new files."""
        worker.folders.ensure()  # cheap, and a folder removed by hand comes back
        reports = []
        for path in sorted(worker.folders.processing.iterdir()):
            if self._stopping.is_set():
                break
            claimed = parse_claimed(path.name)
            # Sources may share a directory (with patterns of their own): each resumes its own files only.
            if claimed is not None and fnmatch.fnmatchcase(claimed[1], worker.spec.pattern):
                reports.append(await worker.process(path, stop=self._stopping.is_set))
        for path in self._complete(worker):
            if self._stopping.is_set():
                break
            report = await worker.take(path, stop=self._stopping.is_set)
            if report is not None:
                reports.append(report)
        for report in reports:
            self.reports.append(report)
            log.info(
                "inbound file %s: %s, %d records: %d accepted, %d rejected%s", report.name, report.outcome,
                report.records, report.accepted, report.rejected, f" ({report.reason})" if report.reason else "",
            )  # fmt: skip
        return reports

    async def _watch(self, worker: SourceWorker) -> None:
        while not self._stopping.is_set():
            try:
                await self.scan(worker)
            except AdapterError as exc:  # the store is down: files stay where they are, the next scan retries
                log.warning("inbound file source %s: %s", worker.spec.name, exc)
            except Exception:
                log.exception("inbound file source %s: scan failed", worker.spec.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.poll_interval)

    def _complete(self, worker: SourceWorker) -> list[Path]:
        """The source's new files that are complete, oldest first; remembers the others' size and mtime."""
        spec, now = worker.spec, self._clock()
        names = set(os.listdir(worker.folders.root))
        ready: list[tuple[int, Path]] = []
        for name in names:
            if name in worker.folders.names or name.startswith(".") or name.endswith(MARKER):
                continue
            if not fnmatch.fnmatchcase(name, spec.pattern):
                continue
            path = worker.folders.root / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            signature = (info.st_size, info.st_mtime_ns)
            if name + MARKER in names or not stat.S_ISREG(info.st_mode):
                ready.append((info.st_mtime_ns, path))  # marked complete, or refused at once: no waiting
                continue
            if spec.done_marker:
                continue
            size, mtime, since = self._seen.get(path, (*signature, now))
            if (size, mtime) != signature:
                since = now
            self._seen[path] = (*signature, since)
            if now - since >= spec.settle_seconds:
                ready.append((info.st_mtime_ns, path))
        for path in [p for p in self._seen if p.parent == worker.folders.root and p.name not in names]:
            del self._seen[path]
        ready.sort()
        return [path for _, path in ready]
