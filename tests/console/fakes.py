"""A fake operations facade for the console's HTTP tests: records the actions asked of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interlink.operations import DomainTraffic, TypeBacklog

__all__ = ["SECRET_VALUE", "FakeOperations"]

#: A payload value that must never reach a page of a visitor without the payload permission.
SECRET_VALUE = "NL91ABNA0417164300"
_AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@dataclass
class FakeOperations:
    """One parked letter in one group, one saga, and an audit log the actions append to."""

    calls: list[tuple[str, Any, str, str]] = field(default_factory=list)
    error: str = "ValueError: <script>alert(1)</script>"

    async def status(self) -> dict[str, Any]:
        replicas = [{"name": "customers", "copies": 3, "feed": "customer.CustomerChanged"}]
        return {
            "outbox_pending": 3, "outbox_oldest_age": 1.5, "dead_letters": 1, "pending_deferred": 0,
            "replicas": replicas,
        }  # fmt: skip

    async def dead_letter_groups(self) -> list[dict[str, Any]]:
        return [
            {"fingerprint": "f" * 16, "subscription": "loans", "message_type": "CustomerChanged",
             "error_name": "ValueError", "error_class": "poison", "top_frame": "app.py:handle", "count": 1,
             "first_seen": _AT, "last_seen": _AT, "letter_ids": [7]}
        ]  # fmt: skip

    async def dead_letters(self, *, group: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        letter = await self.dead_letter(7)
        assert letter is not None
        return [letter]

    async def dead_letter(self, id: int) -> dict[str, Any] | None:
        if id != 7:
            return None
        return {
            "id": 7, "fingerprint": "f" * 16, "subscription": "loans", "message_id": "m-1",
            "message_type": "CustomerChanged", "error": self.error, "attempts": 5, "failed_at": _AT,
            "envelope": {"id": "m-1", "type": "CustomerChanged", "source": "customer"},
            "payload": {"iban": SECRET_VALUE, "amount": 12},
        }  # fmt: skip

    async def replay(self, ids: Sequence[int], *, actor: str, reason: str) -> None:
        self.calls.append(("replay", list(ids), actor, reason))

    async def replay_group(self, fingerprint: str, *, actor: str, reason: str) -> None:
        self.calls.append(("replay_group", fingerprint, actor, reason))

    async def discard(self, ids: Sequence[int], *, actor: str, reason: str) -> None:
        self.calls.append(("discard", list(ids), actor, reason))

    async def edit_and_replay(self, id: int, payload: Any, *, actor: str, reason: str) -> str:
        self.calls.append(("edit_and_replay", (id, payload), actor, reason))
        return "m-2"

    async def sagas(
        self, *, state: str | None = None, definition: str | None = None, older_than: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:  # fmt: skip
        return [{"id": "s-1", "name": "open-account", "status": "running", "step": 1, "started_at": _AT}]

    async def saga(self, id: str) -> dict[str, Any] | None:
        if id != "s-1":
            return None
        saga = {"id": "s-1", "name": "open-account", "status": "running", "step": 1}
        entries = [{"at": _AT, "step": 0, "kind": "step", "what": "sent", "detail": None}]
        return {"saga": saga, "data": {"iban": SECRET_VALUE}, "steps": [], "entries": entries, "outstanding": None}

    async def retry_saga_step(self, id: str, *, actor: str, reason: str) -> None:
        self.calls.append(("retry_saga_step", id, actor, reason))

    async def compensate_saga(self, id: str, *, actor: str, reason: str) -> None:
        self.calls.append(("compensate_saga", id, actor, reason))

    async def abandon_saga(self, id: str, *, actor: str, reason: str) -> None:
        self.calls.append(("abandon_saga", id, actor, reason))

    async def audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return [
            {"id": i, "at": _AT, "actor": actor, "action": action, "target": str(target), "reason": reason,
             "before": {"payload": {"iban": SECRET_VALUE}}, "after": None}
            for i, (action, target, actor, reason) in enumerate(self.calls)
        ]  # fmt: skip

    async def traffic(self) -> DomainTraffic:
        return DomainTraffic(
            domain="loans", sent={"loans.LoanGranted": 6}, window=60.0,
            outbox={"loans.LoanGranted": TypeBacklog(pending=2, oldest_age=4.0)}, outbox_complete=True,
            parked={"customer.CustomerChanged": 1}, refused={}, consumer_lag=3,
        )  # fmt: skip
