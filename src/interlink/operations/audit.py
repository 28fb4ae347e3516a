"""The operators' audit log: every action names who, why, and the state before and after it.

Entries are appended with the change they record (:attr:`~interlink.ports.store.ChangeSet.audit`, one
transaction); this package offers no way to change or remove one. Only the store's retention prunes them,
after ``Retention.audit`` (400 days by default).
"""

from __future__ import annotations

import json
from typing import Any

from interlink.core.clock import Clock
from interlink.exceptions import InvalidInput
from interlink.operations.views import AuditEntry
from interlink.ports.store import AuditRecord

__all__ = ["audit_entry", "check_actor", "record"]


def check_actor(actor: str, reason: str) -> None:
    """Refuse an action without an actor or without a reason."""
    if not actor.strip():
        raise InvalidInput("an action needs the actor who takes it")
    if not reason.strip():
        raise InvalidInput("an action needs a reason: say why (it is kept in the audit log)")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def record(
    clock: Clock, actor: str, action: str, target: str, reason: str, *, before: Any = None, after: Any = None
) -> AuditRecord:
    """The audit record of one action (``before``/``after``: JSON-ready state, None when there is none)."""
    return AuditRecord(
        actor=actor.strip(),
        action=action,
        target=target,
        reason=reason.strip(),
        at=clock.now(),
        before=_json(before),
        after=_json(after),
    )


def audit_entry(r: AuditRecord) -> AuditEntry:
    """The view of a stored audit record."""
    assert r.id is not None
    return AuditEntry(
        id=r.id,
        at=r.at,
        actor=r.actor,
        action=r.action,
        target=r.target,
        reason=r.reason,
        before=json.loads(r.before) if r.before is not None else None,
        after=json.loads(r.after) if r.after is not None else None,
    )
