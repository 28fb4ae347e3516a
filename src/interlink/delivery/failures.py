"""What a dead letter keeps of the failure that parked it, and the fingerprint that groups alike letters.

Letters that failed the same way (same subscription, message type, exception class and the place it was
raised) share a fingerprint, so an operator sees one group of a thousand letters rather than a thousand
letters, and replays or discards them together once the cause is fixed.
"""

from __future__ import annotations

import hashlib
import traceback
from pathlib import PurePath

from interlink.ports.store import DeadLetter

__all__ = ["error_name", "failure_details", "fingerprint", "top_frame"]

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
