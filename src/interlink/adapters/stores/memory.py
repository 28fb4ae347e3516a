"""In-memory store for unit tests: the same checks and atomicity as the SQL stores, kept in dicts.

``memory://name`` shares one state between instances with the same name in this process (like two
connections to one database); plain ``memory://`` is private to the instance.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlsplit

from interlink.exceptions import ConcurrencyError, DuplicateMessage
from interlink.ports.kinds import ENDED_SAGA_STATES, REPLY_KIND, SAGA_KIND
from interlink.ports.store import (
    COUNTERS_PREFIX,
    HELD,
    RELEASED,
    AuditRecord,
    ChangeSet,
    DeadLetter,
    DueRecord,
    FieldValue,
    FileProgress,
    IdempotencyRecord,
    InboundFile,
    OutboxRow,
    OutboxStatus,
    Retained,
    Store,
    StoredAggregate,
    merge_writes,
)

__all__ = ["MemoryStore"]


@dataclass
class _State:
    aggregates: dict[tuple[str, str], StoredAggregate] = field(default_factory=dict)
    outbox: dict[int, tuple[OutboxRow, float]] = field(default_factory=dict)
    inbox: dict[tuple[str, str], float] = field(default_factory=dict)  # mark -> time handled
    written: dict[tuple[str, str], float] = field(default_factory=dict)  # aggregate -> time of last write
    due: dict[tuple[str, str], float] = field(default_factory=dict)  # framework record -> its due time
    dead_letters: dict[int, DeadLetter] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    files: dict[str, InboundFile] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MemoryStore(Store):
    """A store in this process's memory; every commit is checked in full before anything changes."""

    scheme = "memory"
    domain_scoped = True
    _shared: ClassVar[dict[str, _State]] = {}

    def __init__(self, url: str = "memory://", *, domain: str) -> None:
        super().__init__(url, domain=domain)
        name = urlsplit(url).netloc
        self._state = self._shared.setdefault(f"{name}/{domain}", _State()) if name else _State()

    async def _connect(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _teardown(self) -> list[str]:
        # In place: every MemoryStore of this name and domain sees the storage emptied.
        self._state.__dict__.update(_State().__dict__)
        return [f"memory store of {self.domain}"]

    async def ping(self) -> None:
        self._check()

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        self._check()
        return self._state.aggregates.get((kind, id))

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        self._check()
        return {m for m in message_ids if (subscription, m) in self._state.inbox}

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        state = self._state
        writes = merge_writes(changes)
        for w in writes:
            current = state.aggregates.get((w.kind, w.id))
            version = current.version if current else 0
            if version != w.expected_version:
                raise ConcurrencyError(
                    f"{w.kind} {w.id!r} is at version {version}, the write expected {w.expected_version}"
                )
        files = _progress(state.files, [c.file_progress for c in changes if c.file_progress is not None])
        marks = [(m.subscription, m.message_id) for c in changes for m in c.inbox]
        if len(set(marks)) != len(marks) or any(m in state.inbox for m in marks):
            raise DuplicateMessage("the inbox already holds one of these message ids")
        # Every check passed: apply all of it (nothing above has changed the state).
        now = time.time()
        for w in writes:
            if w.data is None:
                del state.aggregates[(w.kind, w.id)]
                state.written.pop((w.kind, w.id), None)
                state.due.pop((w.kind, w.id), None)
            else:
                state.aggregates[(w.kind, w.id)] = StoredAggregate(w.data, w.new_version)
                state.written[(w.kind, w.id)] = now
                if w.due_at is None:
                    state.due.pop((w.kind, w.id), None)
                else:
                    state.due[(w.kind, w.id)] = w.due_at
        state.inbox.update(dict.fromkeys(marks, now))
        state.files.update(files)
        touched: set[tuple[str, str]] = set()  # ordering keys whose letters changed
        for change in changes:
            for message in change.outbox:
                seq = next(state.seq)
                state.outbox[seq] = (OutboxRow(seq, message), now)
            for letter in change.dead_letters:
                # A message parked already (a crash before its ack) keeps its one row, updated.
                parked = next(
                    (
                        i
                        for i, d in state.dead_letters.items()
                        if (d.subscription, d.message_id) == (letter.subscription, letter.message_id)
                    ),
                    None,
                )
                if parked is not None and letter.error_class == HELD:
                    continue  # held again after a redelivery: it keeps its place and its state
                letter_id = parked or next(state.seq)
                ordering_key = state.dead_letters[parked].ordering_key if parked else letter.ordering_key
                state.dead_letters[letter_id] = replace(letter, id=letter_id, ordering_key=ordering_key)
            if change.idempotency is not None:
                record = change.idempotency
                state.idempotency[record.key] = replace(record, state="done")
            for seq in change.outbox_sent:
                state.outbox.pop(seq, None)
            for letter_id in change.resolved_dead_letters:
                gone = state.dead_letters.pop(letter_id, None)
                if gone is not None and gone.ordering_key is not None:
                    touched.add((gone.subscription, gone.ordering_key))
            touched.update((d.subscription, d.ordering_key) for d in change.dead_letters if d.ordering_key)
            for entry in change.audit:
                state.audit.append(replace(entry, id=next(state.seq)))
        for subscription, key in touched:
            head = min(
                (d for d in state.dead_letters.values() if (d.subscription, d.ordering_key) == (subscription, key)),
                key=lambda d: d.id or 0,
                default=None,
            )
            if head is not None and head.error_class == HELD:
                state.dead_letters[head.id or 0] = replace(head, error_class=RELEASED)

    async def outbox_batch(self, limit: int) -> list[OutboxRow]:
        self._check()
        return [row for row, _ in sorted(self._state.outbox.values(), key=lambda r: r[0].seq)[:limit]]

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        self._check()
        for seq in seqs:
            self._state.outbox.pop(seq, None)

    async def _park_outbox(self, letter: DeadLetter) -> bool:
        seqs = [seq for seq, (row, _) in self._state.outbox.items() if row.message.message_id == letter.message_id]
        if seqs:
            await self._commit([ChangeSet(dead_letters=[letter], outbox_sent=seqs)])
        return bool(seqs)

    async def outbox_status(self) -> OutboxStatus:
        self._check()
        times = [created for _, created in self._state.outbox.values()]
        oldest = datetime.fromtimestamp(min(times), UTC) if times else None
        return OutboxStatus(len(times), oldest)

    async def dead_letters(
        self, subscription: str | None = None, limit: int = 100, *, error_class: str | None = None
    ) -> list[DeadLetter]:
        self._check()
        letters = [d for _, d in sorted(self._state.dead_letters.items())]
        wanted = [d for d in letters if subscription in (None, d.subscription)]
        return [d for d in wanted if error_class in (None, d.error_class)][:limit]

    async def dead_letter(self, id: int) -> DeadLetter | None:
        self._check()
        return self._state.dead_letters.get(id)

    async def parked_keys(self, subscription: str, keys: Sequence[str]) -> set[str]:
        self._check()
        wanted = set(keys)
        return {
            d.ordering_key
            for d in self._state.dead_letters.values()
            if d.subscription == subscription and d.ordering_key in wanted and d.ordering_key is not None
        }

    async def letters_of_key(self, subscription: str, key: str, limit: int = 100) -> list[DeadLetter]:
        self._check()
        letters = sorted(self._state.dead_letters.items())
        return [d for _, d in letters if (d.subscription, d.ordering_key) == (subscription, key)][:limit]

    async def audit_entries(self, limit: int = 100, *, before: int | None = None) -> list[AuditRecord]:
        self._check()
        entries = [a for a in reversed(self._state.audit) if before is None or (a.id or 0) < before]
        return entries[:limit]

    async def _list_aggregates(
        self, kind: str, *, where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[tuple[str, StoredAggregate]]:
        self._check()
        found = []
        for (k, id), stored in sorted(self._state.aggregates.items()):
            if k != kind or (after is not None and id <= after):
                continue
            doc = json.loads(stored.data)
            if all(doc.get(name) == value for name, value in where.items()):
                found.append((id, stored))
                if len(found) == limit:
                    break
        return found

    async def claim_idempotency(self, key: str, fingerprint: str, lease: float) -> IdempotencyRecord | None:
        self._check()
        now = time.time()
        held = self._state.idempotency.get(key)
        if held is not None and not (held.state == "pending" and held.created_at < now - lease):
            return held
        self._state.idempotency[key] = IdempotencyRecord(key, fingerprint, "pending", now)
        return None

    async def renew_idempotency(self, key: str, fingerprint: str) -> bool:
        self._check()
        held = self._state.idempotency.get(key)
        if held is None or held.state != "pending" or held.fingerprint != fingerprint:
            return False
        self._state.idempotency[key] = replace(held, created_at=time.time())
        return True

    async def release_idempotency(self, key: str) -> None:
        self._check()
        held = self._state.idempotency.get(key)
        if held is not None and held.state == "pending":
            del self._state.idempotency[key]

    async def _prune(self, kind: Retained, older_than: float, limit: int) -> int:
        state = self._state
        if kind is Retained.INBOX:
            old = [mark for mark, at in state.inbox.items() if at < older_than][:limit]
            for mark in old:
                del state.inbox[mark]
            return len(old)
        if kind is Retained.IDEMPOTENCY:
            keys = [k for k, r in state.idempotency.items() if r.created_at < older_than][:limit]
            for key in keys:
                del state.idempotency[key]
            return len(keys)
        if kind is Retained.AUDIT:
            old_ids = {a.id for a in state.audit if a.at.timestamp() < older_than}
            dropped = set(sorted(i for i in old_ids if i is not None)[:limit])
            state.audit[:] = [a for a in state.audit if a.id not in dropped]
            return len(dropped)
        ended = ENDED_SAGA_STATES

        def retained(k: str, id: str) -> bool:
            if kind is Retained.COUNTERS:
                return k.startswith(COUNTERS_PREFIX)
            if kind is Retained.REPLY:
                return k == REPLY_KIND
            return k == SAGA_KIND and json.loads(state.aggregates[(k, id)].data).get("status") in ended

        found = [written for written, at in state.written.items() if at < older_than and retained(*written)][:limit]
        for written in found:
            del state.aggregates[written]
            del state.written[written]
            state.due.pop(written, None)
        return len(found)

    async def _due(self, kind: str, now: float, limit: int) -> list[DueRecord]:
        found = sorted((at, id) for (k, id), at in self._state.due.items() if k == kind and at <= now)[:limit]
        return [DueRecord(id, at, self._state.aggregates[(kind, id)]) for at, id in found]

    async def claim_file(self, file: InboundFile, lease: float, *, replace_owner: str | None = None) -> InboundFile:
        self._check()
        now = time.time()
        held = self._state.files.get(file.file_id) or next(
            (f for f in self._state.files.values() if (f.source, _content(f)) == (file.source, _content(file))), None
        )
        if held is None:
            claimed = replace(file, state="processing", lease_until=now + lease, claimed_at=now)
            self._state.files[file.file_id] = claimed
            return claimed
        if held.state == "processing" and (held.owner in (file.owner, replace_owner) or held.lease_until < now):
            held = self._state.files[held.file_id] = replace(held, owner=file.owner, lease_until=now + lease)
        return held

    async def inbound_file(self, file_id: str) -> InboundFile | None:
        self._check()
        return self._state.files.get(file_id)

    async def unfinished_files(self, limit: int = 100) -> list[InboundFile]:
        self._check()
        files = sorted((f for f in self._state.files.values() if f.state != "archived"), key=lambda f: f.claimed_at)
        return files[:limit]


def _content(f: InboundFile) -> str:
    return f"{f.sha256}:{f.file_id}" if f.forced else f.sha256


def _progress(files: dict[str, InboundFile], progress: list[FileProgress]) -> dict[str, InboundFile]:
    """The file records after these progress updates, in order; ConcurrencyError if one does not continue."""
    moved: dict[str, InboundFile] = {}
    for p in progress:
        f = moved.get(p.file_id) or files.get(p.file_id)
        if f is None or (f.owner, f.checkpoint, f.state) != (p.owner, p.after, "processing"):
            raise ConcurrencyError(f"inbound file {p.file_id}: not held by {p.owner} at record {p.after} any more")
        moved[p.file_id] = replace(
            f,
            checkpoint=p.checkpoint,
            accepted=p.accepted,
            rejected=p.rejected,
            rejects_bytes=p.rejects_bytes,
            lease_until=p.lease_until,
            state=p.state,
            report=p.report,
        )
    return moved
