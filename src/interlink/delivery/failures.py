"""What a dead letter keeps of the failure that parked it, and the fingerprint that groups alike letters.

Letters that failed the same way (same subscription, message type, exception class and the place it was
raised) share a fingerprint, so an operator sees one group of a thousand letters rather than a thousand
letters, and replays or discards them together once the cause is fixed.
"""

from __future__ import annotations

import hashlib
import traceback
from datetime import datetime
from pathlib import PurePath

from interlink.delivery.retry import Verdict
from interlink.ports.broker import Delivery
from interlink.ports.store import ChangeSet, DeadLetter

__all__ = ["dead_letter", "error_name", "failure_details", "fingerprint", "letter_error", "top_frame"]

#: Stored tracebacks are cut to this many characters (the innermost frames are kept: they say where).
MAX_TRACEBACK = 8000


def top_frame(error: BaseException) -> str | None:
    """``file:function`` of the innermost frame of the error's traceback (where it was raised), or None."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return None
    frame = frames[-1]
    # The file name without its folders: the same code installed elsewhere groups the same.
    return f"{PurePath(frame.filename).name}:{frame.name}"


def failure_details(error: BaseException) -> tuple[str, str | None]:
    """The formatted traceback of ``error`` (cut to its last :data:`MAX_TRACEBACK` characters) and its top frame."""
    text = "".join(traceback.format_exception(error))
    return text[-MAX_TRACEBACK:], top_frame(error)


def error_name(letter: DeadLetter) -> str:
    """The exception class of a letter's error (its error text starts ``Name: ...``)."""
    head, sep, _ = letter.error.partition(":")
    return head.strip() if sep and head.strip().isidentifier() else "error"


def fingerprint(letter: DeadLetter) -> str:
    """Twelve hex digits naming how a letter failed: subscription, message type, exception class, top frame."""
    parts = (letter.subscription, letter.message_type, error_name(letter), letter.top_frame or "")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def dead_letter(
    subscription: str,
    delivery: Delivery,
    message_type: str,
    error: Exception,
    verdict: Verdict,
    failed_at: datetime,
    ordering_key: str | None = None,
) -> DeadLetter:
    """The dead letter that parks ``delivery`` of ``subscription`` for ``error``, as ``verdict`` judged it."""
    trace, frame = failure_details(error)
    return DeadLetter(
        subscription=subscription,
        message_id=delivery.message_id,
        message_type=message_type,
        body=delivery.body,
        error=f"{type(error).__name__}: {error}",
        attempts=verdict.attempts,
        failed_at=failed_at,
        error_class=verdict.error_class,
        ordering_key=ordering_key,
        traceback=trace,
        top_frame=frame,
    )


def letter_error(change: ChangeSet) -> tuple[str | None, str]:
    """The error class and error of the dead letter a change set parks."""
    letter = change.dead_letters[0]
    return letter.error_class, letter.error
