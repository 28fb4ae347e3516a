"""Checkpointed batch ingestion: the seed's "Inbound File handler" turning each record into a command.

For each batch of records after the file's checkpoint:

1. every record runs the declared command in its own unit of work, reading through the batch's overlay
   (a record sees what the records before it changed); a record that fails to parse or validate, or whose
   command raises a business error, becomes a reject and the rest continue;
2. the batch's rejects are written and synced to the rejects file;
3. the successful records' effects and the checkpoint past the batch (fenced: it must continue from the
   stored checkpoint, under this worker's claim) commit as ONE change set, through the committer.

So a record's effects and the checkpoint past it commit together or not at all: a crash anywhere resumes
from the checkpoint, and no record runs twice nor is missed. If the commit is refused (a version conflict
with a concurrent writer), the batch is redone one record per transaction, each with its own checkpoint
step, so only the culprit is rejected. An infrastructure error (AdapterError) stops the file where it is,
to be resumed. Records read = accepted + rejected = the checkpoint.

Batches run one after the other: running the next batch while one commits was measured slower, because
the busy event loop starves the driver's thread of the GIL that each step of the commit needs.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import dropwhile, islice
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from interlink.core.context import Role
from interlink.delivery.crashpoints import crash_point
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import AdapterError, ConcurrencyError
from interlink.observability import tracing
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.inbound_file.declarations import InboundFileSpec
from interlink.patterns.inbound_file.errors import ClaimLost
from interlink.patterns.inbound_file.readers import RawRecord
from interlink.patterns.inbound_file.rejects import RejectsFile
from interlink.patterns.pattern import Host as IntakeHost
from interlink.ports.store import ChangeSet, FileProgress, InboundFile

__all__ = ["Ingestion"]

# A record that conflicts with concurrent writers this often, alone, is rejected: a conflict that lasts is the
# record's own (it creates what exists already); a passing one is another writer's, and backing off (with
# jitter, so two workers out of step do not meet again) gets past it. At most ~0.4 s per such record.
_ATTEMPTS = 5
_BACKOFF = 0.005
State = Literal["processing", "archived", "failed"]


@dataclass
class _Staged:
    """A batch run but not committed: its effects, its rejects, and the counts it leads to."""

    records: list[RawRecord]
    overlay: Overlay = field(default_factory=Overlay)
    change: ChangeSet = field(default_factory=ChangeSet)
    rejects: list[tuple[RawRecord, str]] = field(default_factory=list)
    checkpoint: int = 0
    accepted: int = 0
    rejected: int = 0
    aborted: str | None = None


class Ingestion:
    """Runs the records of one claimed file through its command; counts what it did."""

    def __init__(
        self,
        host: IntakeHost,
        spec: InboundFileSpec,
        file: InboundFile,
        rejects: RejectsFile,
        *,
        lease: float,
        on_progress: Callable[[Ingestion], None] | None = None,
    ) -> None:
        self.spec = spec
        self.file = file
        self.checkpoint = file.checkpoint
        self.accepted = file.accepted
        self.rejected = file.rejected
        #: The line the last committed record starts on, and the file's lines (from the pre-scan; 0: unknown).
        self.line = 0
        self.lines_total = 0
        #: Why the reject limit stopped the file, once it did.
        self.aborted: str | None = None
        self._host = host
        self._rejects = rejects
        self._committed_rejects = file.rejects_bytes
        self._lease = lease
        self._on_progress = on_progress
        assert spec.command.input_type is not None
        self._input: type[BaseModel] = spec.command.input_type
        self._direct = spec.to_input is None and issubclass(spec.record, self._input)
        # What ``spec.record.model_validate`` runs, without its keyword arguments passed on per record.
        self._validate = spec.record.__pydantic_validator__.validate_python
        self._func, self._name = spec.command.func, spec.command.name
        # What every record's unit of work and context are built with, looked up once per file.
        self._domain, self._store, self._clock, self._external = host.domain, host.store, host.clock, host.external
        self._context = host.domain.context_type

    async def run(self, records: Iterator[RawRecord], stop: Callable[[], bool] = lambda: False) -> bool:
        """Ingest the records after the checkpoint; False if ``stop()`` said to stop between two batches."""
        self.aborted = self._over_limit(self.checkpoint, self.rejected)  # a resumed file may be over it already
        if self.aborted:
            return True
        for batch in _batches(records, self.checkpoint, self.spec.batch_size):
            with tracing.inbound_batch(self._host.domain.name, self.spec.name, len(batch), self.checkpoint):
                await self._commit(await self._stage(batch))
            if self.aborted:
                break
            if stop():
                return False
        return True

    async def finish(self, outcome: Literal["archived", "failed"], reason: str | None, report: dict[str, Any]) -> None:
        """Commit the file's end: its final state and report, and the domain's FileIngested event."""
        spec, file, host = self.spec, self.file, self._host
        uow = UnitOfWork(host.domain, host.store, host.clock)
        name = f"inbound file {spec.name}"
        ctx = host.domain.context_type(
            host.domain, uow, Role.COMMAND, name=name, clock=host.clock, correlation_id=file.file_id
        )
        event = spec.event(
            source=spec.name,
            file_name=file.name,
            file_id=file.file_id,
            sha256=file.sha256,
            outcome=outcome,
            records=self.checkpoint,
            accepted=self.accepted,
            rejected=self.rejected,
            reason=reason,
        )
        ctx.emit(event)
        change = uow.changes()
        counts = (self.checkpoint, self.accepted, self.rejected, self._committed_rejects)
        change.file_progress = self._progress(*counts, outcome, json.dumps(report))
        await host.committer.commit(change)

    # -- batches -------------------------------------------------------------------------------------

    async def _stage(self, batch: list[RawRecord]) -> _Staged:
        """Run a batch's records, each in its own unit of work, without committing anything."""
        staged = _Staged(batch)
        accepted, rejected = self.accepted, self.rejected
        change, overlay, rejects, func = staged.change, staged.overlay, staged.rejects, self._func
        # Looked up once per batch, not per record (each lookup is some 30-50 ns, a dozen of them per record).
        validate, to_input = self._validate, None if self._direct else self._to_input
        domain, store, clock, external, context = self._domain, self._store, self._clock, self._external, self._context
        name, correlation_id = self._name, self.file.file_id
        for taken, record in enumerate(batch, 1):
            reason = record.error
            if reason is None:
                try:
                    data = validate(record.fields)
                    if to_input is not None:
                        data = to_input(data)
                    uow = UnitOfWork(domain, store, clock, overlay=overlay, external=external)
                    ctx = context(domain, uow, Role.COMMAND, name=name, clock=clock, correlation_id=correlation_id)
                    await func(ctx, data)
                    # The batch commits as one: the record's effects join it, with no change set of its own.
                    uow.collect(change, overlay)
                except AdapterError:
                    raise
                except Exception as exc:
                    reason = _reason(exc)
                else:
                    accepted += 1
                    continue
            rejects.append((record, reason))
            rejected += 1
            if why := self._over_limit(record.number, rejected):
                staged.aborted = why
                staged.records = batch[:taken]  # the rest is never read
                break
        staged.checkpoint, staged.accepted, staged.rejected = staged.records[-1].number, accepted, rejected
        return staged

    async def _commit(self, staged: _Staged) -> None:
        """Write the batch's rejects, then commit its effects with the checkpoint past it; if the commit is
        refused, redo the batch one record at a time."""
        size = self._rejects.write(staged.rejects)
        staged.change.file_progress = self._progress(staged.checkpoint, staged.accepted, staged.rejected, size)
        try:
            await self._host.committer.commit(staged.change)
        except ConcurrencyError:
            await self._check_claim()
            self._rejects.rewind(self._committed_rejects)
            for record in staged.records:
                await self._alone(record)
                if self.aborted:
                    break
            return
        self._advanced(staged.checkpoint, staged.accepted, staged.rejected, staged.records[-1].line)
        self.aborted = staged.aborted

    async def _alone(self, record: RawRecord) -> None:
        """Redo one record in a transaction of its own, with its checkpoint step."""
        conflict: Exception | None = None
        for attempt in range(_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, _BACKOFF * 4**attempt))
            staged = await self._stage([record])  # alone: its own change set and overlay
            change, reason = staged.change, staged.rejects[0][1] if staged.rejects else None
            try:
                await self._settle(record, change, reason)
                return
            except ConcurrencyError as exc:
                await self._check_claim()
                self._rejects.rewind(self._committed_rejects)
                conflict = exc
        await self._settle(record, ChangeSet(), f"kept conflicting with concurrent changes: {conflict}")

    async def _settle(self, record: RawRecord, change: ChangeSet, reason: str | None) -> None:
        accepted, rejected = self.accepted + (reason is None), self.rejected + (reason is not None)
        size = self._rejects.write([(record, reason)] if reason is not None else [])
        change = change if reason is None else ChangeSet()
        change.file_progress = self._progress(record.number, accepted, rejected, size)
        await self._host.committer.commit(change)
        self._advanced(record.number, accepted, rejected, record.line)
        if reason is not None:
            self.aborted = self._over_limit(record.number, rejected)

    def _advanced(self, checkpoint: int, accepted: int, rejected: int, line: int) -> None:
        crash_point("ingest.after_commit")
        metrics.file_records(self._host.domain.name, self.spec.name, accepted - self.accepted, rejected - self.rejected)
        self.checkpoint, self.accepted, self.rejected, self.line = checkpoint, accepted, rejected, line
        self._committed_rejects = self._rejects.size
        if self._on_progress is not None:
            self._on_progress(self)

    def _to_input(self, record: BaseModel) -> BaseModel:
        """The command's input for a validated record that is not one already."""
        data: Any = self.spec.to_input(record) if self.spec.to_input is not None else record
        if isinstance(data, self._input):
            return data
        return self._input.model_validate(data.model_dump() if isinstance(data, BaseModel) else data)

    def _progress(
        self, checkpoint: int, accepted: int, rejected: int, size: int, state: State = "processing", report: str = ""
    ) -> FileProgress:
        # ``after`` is the checkpoint the store holds when this commits: one batch commits after the other.
        file, lease_until = self.file, time.time() + self._lease
        after = self.checkpoint
        return FileProgress(
            file.file_id, file.owner, after, checkpoint, accepted, rejected, size, lease_until, state, report or None
        )

    async def _check_claim(self) -> None:
        """ClaimLost unless this worker still holds the file at its checkpoint (a commit was refused)."""
        held = await self._host.store.inbound_file(self.file.file_id)
        expected = (self.file.owner, "processing", self.checkpoint)
        if held is None or (held.owner, held.state, held.checkpoint) != expected:
            owner = held.owner if held else "nobody"
            raise ClaimLost(f"inbound file {self.file.name} ({self.file.file_id}) is now held by {owner}")

    def _over_limit(self, read: int, rejected: int) -> str | None:
        limit = self.spec.rejects
        if limit.max_rejects is not None and rejected > limit.max_rejects:
            return f"{rejected} rejects exceed the limit of {limit.max_rejects} (at record {read})"
        if limit.max_share is not None and read >= limit.min_records and rejected > limit.max_share * read:
            return f"{rejected} rejects in {read} records exceed the limit of {limit.max_share:.1%}"
        return None


def _batches(records: Iterator[RawRecord], checkpoint: int, size: int) -> Iterator[list[RawRecord]]:
    """The records after ``checkpoint``, ``size`` at a time; those before it are parsed again, never run."""
    # Sliced in C (islice, dropwhile): no Python step per record once the checkpoint is passed.
    after = dropwhile(lambda record: record.number <= checkpoint, records)
    while batch := list(islice(after, size)):
        yield batch


def _reason(exc: Exception) -> str:
    """A reject's reason: what is wrong, in one line."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        return f"invalid {exc.title}: {problems}"
    return f"{type(exc).__name__}: {exc}"
