"""Dead letters as an operator sees them: views, groups by fingerprint, and the model an edit must match."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from interlink.core.domain import Domain
from interlink.core.messages import Message, split_version
from interlink.delivery.failures import error_name, fingerprint
from interlink.operations.views import DeadLetterGroup, DeadLetterView
from interlink.patterns.command_events.declarations import ReplyData, command_handlers_of
from interlink.patterns.command_events.replies import reply_command_types
from interlink.patterns.notification.declarations import notifications_of
from interlink.patterns.state_transfer.declarations import replicas_of
from interlink.ports.store import DeadLetter

__all__ = ["group_letters", "letter_summary", "letter_view", "model_of"]


def letter_view(letter: DeadLetter) -> DeadLetterView:
    """The full view of one letter: its envelope split into attributes and payload."""
    assert letter.id is not None
    envelope: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    body: str | None = None
    try:
        document = json.loads(letter.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        payload = document.pop("data")
        envelope = document
    else:
        body = letter.body.decode(errors="replace")
    return DeadLetterView(
        id=letter.id,
        fingerprint=fingerprint(letter),
        subscription=letter.subscription,
        message_id=letter.message_id,
        message_type=letter.message_type,
        error=letter.error,
        error_class=letter.error_class,
        attempts=letter.attempts,
        failed_at=letter.failed_at,
        top_frame=letter.top_frame,
        traceback=letter.traceback,
        envelope=envelope,
        payload=payload,
        body=body,
    )


def letter_summary(letter: DeadLetter, *, with_body: bool = False) -> dict[str, Any]:
    """What the audit log keeps of a letter an action changes (its body too when the action drops it)."""
    summary: dict[str, Any] = {
        "letter_id": letter.id,
        "message_id": letter.message_id,
        "subscription": letter.subscription,
        "message_type": letter.message_type,
        "error": letter.error,
        "attempts": letter.attempts,
        "fingerprint": fingerprint(letter),
    }
    if with_body:
        summary["body"] = letter.body.decode(errors="replace")
    return summary


def group_letters(letters: Iterable[DeadLetter]) -> list[DeadLetterGroup]:
    """Letters grouped by fingerprint, the group failing most recently first."""
    groups: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault(fingerprint(letter), []).append(letter)
    found = []
    for key, members in groups.items():
        first, last = min(members, key=lambda d: d.failed_at), max(members, key=lambda d: d.failed_at)
        found.append(
            DeadLetterGroup(
                fingerprint=key,
                subscription=last.subscription,
                message_type=last.message_type,
                error_name=error_name(last),
                top_frame=last.top_frame,
                error_class=last.error_class,
                count=len(members),
                first_seen=first.failed_at,
                last_seen=last.failed_at,
                sample_error=last.error,
                letter_ids=sorted(d.id for d in members if d.id is not None),
            )
        )
    return sorted(found, key=lambda g: g.last_seen, reverse=True)


def model_of(domain: Domain, message_type: str) -> type[BaseModel] | None:
    """The model a message of this CloudEvents type is read as by ``domain`` (None: no declaration takes it).

    An older version of an upcast event is matched by its name: its data is upcast before it is checked.
    """
    candidates: list[type[Message]] = [h.event_type for h in domain.handlers]
    candidates += [spec.event_type for spec in notifications_of(domain).values()]
    candidates += [spec.event for spec in replicas_of(domain).values()]
    candidates += list(command_handlers_of(domain))
    candidates += list(domain.events.values())
    for cls in candidates:
        if cls.message_type() == message_type:
            return cls
    for reply_type in reply_command_types(domain):
        if reply_type == message_type:
            return ReplyData
    for command in domain.command_messages.values():
        if message_type.endswith(f".{command.message_name()}"):
            return command
    name, _ = split_version(message_type)
    for cls in candidates:
        if split_version(cls.message_type())[0] == name:
            return cls
    return None
