"""Rows of the SQL stores' tables and the records they hold (dead letters, audit entries), and the error of a
write that lost its optimistic check: shared by the SQLAlchemy path and PostgreSQL's hot path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from interlink.exceptions import ConcurrencyError
from interlink.ports.store import AggregateWrite, AuditRecord, DeadLetter

__all__ = ["audit_row", "dead_letter_of", "dead_letter_row", "stale"]


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
