"""Rows of the SQL stores' tables and the records they hold (dead letters, audit entries), and the errors of a
group commit refused by its checks: shared by the SQLAlchemy path and the PostgreSQL and SQLite hot paths, so
each refusal reads the same whichever path committed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from interlink.exceptions import ConcurrencyError, DuplicateMessage
from interlink.ports.store import AggregateWrite, AuditRecord, DeadLetter, FileProgress

__all__ = ["audit_row", "dead_letter_of", "dead_letter_row", "duplicate_marks", "existing", "file_lost", "stale"]


def audit_row(a: AuditRecord) -> dict[str, Any]:
    """The audit log's row of an entry."""
    return {
        "at": a.at.timestamp(),
        "actor": a.actor,
        "action": a.action,
        "target": a.target,
        "reason": a.reason,
        "before": a.before,
        "after": a.after,
    }


def stale(writes: list[AggregateWrite]) -> ConcurrencyError:
    """The error of a commit whose writes found other versions than they read (names the first five)."""
    names = ", ".join(f"{w.kind} {w.id!r} at version {w.expected_version}" for w in writes[:5])
    return ConcurrencyError(f"changed by someone else since it was read (one of: {names})")


def existing(creates: list[AggregateWrite]) -> ConcurrencyError:
    """The error of a commit whose creates found records already there (names the first five)."""
    names = ", ".join(f"{w.kind} {w.id!r}" for w in creates[:5])
    return ConcurrencyError(f"cannot create what exists already (one of: {names})")


def duplicate_marks(count: int) -> DuplicateMessage:
    """The error of a commit whose inbox marks (``count`` of them) found one already there."""
    return DuplicateMessage(f"the inbox already holds one of {count} message ids")


def file_lost(p: FileProgress) -> ConcurrencyError:
    """The error of a file checkpoint that found the file moved on or held by another worker."""
    return ConcurrencyError(
        f"inbound file {p.file_id}: not held by {p.owner} at record {p.after} any more "
        "(taken over after its lease ran out, or finished)"
    )


def dead_letter_row(d: DeadLetter) -> dict[str, Any]:
    """The dead-letter table's row of a letter."""
    return {
        "subscription": d.subscription,
        "message_id": d.message_id,
        "message_type": d.message_type,
        "body": d.body,
        "error": d.error,
        "attempts": d.attempts,
        "failed_at": d.failed_at.timestamp(),
        "error_class": d.error_class,
        "ordering_key": d.ordering_key,
        "traceback": d.traceback,
        "top_frame": d.top_frame,
    }


def dead_letter_of(r: Row[Any]) -> DeadLetter:
    """The letter a dead-letter table row holds."""
    return DeadLetter(
        subscription=r.subscription,
        message_id=r.message_id,
        message_type=r.message_type,
        body=bytes(r.body),
        error=r.error,
        attempts=r.attempts,
        failed_at=datetime.fromtimestamp(r.failed_at, UTC),
        id=r.id,
        error_class=r.error_class,
        ordering_key=r.ordering_key,
        traceback=r.traceback,
        top_frame=r.top_frame,
    )
