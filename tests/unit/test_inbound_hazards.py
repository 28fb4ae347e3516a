"""Hazards: each is refused with its reason, nothing of a refused file is applied, nothing outside is touched."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.patterns.inbound_file import FileIntake, FileRefused, ingest_file
from interlink.patterns.inbound_file.declarations import FileLimits
from interlink.runtime.domain_runtime import DomainRuntime
from tests.faults.apps.inbound_app import HEADER, applied, ledger_domain, write_entries

LIMITS = FileLimits(max_file_bytes=10_000, max_line_chars=200, max_decompression_ratio=50)


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its SHA-256 and modification time, to prove nothing was touched."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the inbound directory, with a valid entries file in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    write_entries(folder / "entries-secret.csv", 5)
    return folder


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[DomainRuntime]:
    """The ledger domain on a memory store, reading ``<tmp>/in`` with small limits and no settling time."""
    (tmp_path / "in").mkdir()
    domain = ledger_domain(tmp_path / "in", limits=LIMITS, settle_seconds=0)
    async with MemoryStore(domain="ledger") as store:
        yield DomainRuntime(domain, store, MemoryBroker())


def _link(inbound: Path, outside: Path) -> str:
    (inbound / "entries-link.csv").symlink_to(outside / "entries-secret.csv")
    return "entries-link.csv is a symbolic link; links are never followed"


def _directory(inbound: Path, outside: Path) -> str:
    (inbound / "entries-dir").mkdir()
    return "entries-dir is a directory, not a regular file"


def _fifo(inbound: Path, outside: Path) -> str:
    os.mkfifo(inbound / "entries-pipe")
    return "entries-pipe is a named pipe, not a regular file"


def _large(inbound: Path, outside: Path) -> str:
    write_entries(inbound / "entries-large.csv", 600)
    size = (inbound / "entries-large.csv").stat().st_size
    return f"entries-large.csv is {size:,} bytes, over the limit of 10,000"


def _long_line(inbound: Path, outside: Path) -> str:
    write_entries(inbound / "entries-long.csv", 3, extra=f"E9,A1,1.00,{'x' * 300}\n")
    return "a line is longer than the limit of 200 characters (line 5)"


def _bad_bytes(inbound: Path, outside: Path) -> str:
    (inbound / "entries-latin1.csv").write_bytes(f"{HEADER}\nE1,A1,1.00,ok\nE2,A1,1.00,Müller\n".encode("latin-1"))
    return "entries-latin1.csv is not valid utf-8: bytes fc (invalid start byte) (line 3)"


def _bomb(inbound: Path, outside: Path) -> str:
    (inbound / "entries-bomb.csv.gz").write_bytes(gzip.compress(f"{HEADER}\n".encode() + b"\n" * 5_000_000))
    return "entries-bomb.csv.gz decompresses to more than 50 times its size"


@pytest.mark.parametrize(
    "make",
    [_link, _directory, _fifo, _large, _long_line, _bad_bytes, _bomb],
    ids=["symlink", "directory", "fifo", "too-large", "long-line", "invalid-bytes", "gzip-bomb"],
)
async def test_the_watcher_refuses_each_hazard_with_its_reason(
    tmp_path: Path, outside: Path, runtime: DomainRuntime, make: Callable[[Path, Path], str]
) -> None:
    """The entry is moved to failed/ unread, its report gives the reason; nothing applied, nothing outside touched."""
    inbound, before = tmp_path / "in", _snapshot(outside)
    reason = make(inbound, outside)
    intake = FileIntake(runtime)
    (report,) = await intake.scan(intake.workers[0])
    assert report.outcome == "refused"
    assert report.reason is not None
    assert report.reason.startswith(reason)
    assert report.path is not None
    assert report.path.parent == inbound / "failed"
    assert report.path.name in {p.name for p in report.path.parent.iterdir()}
    assert report.report_path is not None
    assert json.loads(report.report_path.read_text())["reason"] == report.reason
    assert [p.name for p in inbound.iterdir()] != [], "the folders remain"
    assert sorted(p.name for p in inbound.iterdir()) == ["archive", "failed", "processing"]
    assert await applied(runtime.store) == {}
    assert await runtime.store.outbox_batch(10) == []
    assert _snapshot(outside) == before


@pytest.mark.parametrize(
    "given",
    [
        lambda tmp: tmp / "outside" / "entries-secret.csv",
        lambda tmp: tmp / "in" / ".." / "outside" / "entries-secret.csv",
        lambda tmp: tmp / "in" / "archive" / "entries-secret.csv",
        lambda tmp: Path("/etc/passwd"),
    ],
    ids=["other-folder", "dot-dot", "sub-folder", "absolute"],
)
async def test_ingest_refuses_a_path_outside_the_directory_and_touches_nothing(
    tmp_path: Path, outside: Path, runtime: DomainRuntime, given: Callable[[Path], Path]
) -> None:
    """A path that is not directly in the source's directory is refused before anything is opened or moved."""
    before = _snapshot(outside)
    with pytest.raises(FileRefused, match="is outside the inbound directory"):
        await ingest_file(runtime, "entries", given(tmp_path))
    assert _snapshot(outside) == before
    assert sorted(os.listdir(tmp_path / "in")) == ["archive", "failed", "processing"]
    assert await applied(runtime.store) == {}


async def test_ingest_refuses_a_symlink_without_reading_its_target(
    tmp_path: Path, outside: Path, runtime: DomainRuntime
) -> None:
    """A link given to ``ingest`` is refused and moved aside as a link; its target is neither read nor moved."""
    before = _snapshot(outside)
    _link(tmp_path / "in", outside)
    report = await ingest_file(runtime, "entries", tmp_path / "in" / "entries-link.csv")
    assert (report.outcome, report.records) == ("refused", 0)
    assert report.path is not None
    assert report.path.is_symlink()
    assert _snapshot(outside) == before
    assert await applied(runtime.store) == {}


async def test_ingest_refuses_a_file_the_source_does_not_read(tmp_path: Path, runtime: DomainRuntime) -> None:
    """A file of the directory that does not match the source's pattern is refused and left where it is."""
    (tmp_path / "in" / "notes.csv").write_text(f"{HEADER}\n")
    with pytest.raises(FileRefused, match=r"notes\.csv does not match 'entries-\*', the pattern of source 'entries'"):
        await ingest_file(runtime, "entries", tmp_path / "in" / "notes.csv")
    assert (tmp_path / "in" / "notes.csv").exists()
