"""The rejects file: one JSON line per rejected record, with its record and line number, the reason and the
record as it was read.

Its length is part of the file's checkpoint: a batch's rejects are written and synced before the commit
that counts them, and a resumed file first cuts the rejects file back to the committed length. So a crash
can neither lose a reject nor write one twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from interlink.patterns.inbound_file.readers import RawRecord

__all__ = ["RejectsFile"]


class RejectsFile:
    """Appends rejects to ``path``, which is cut back to ``committed`` bytes first."""

    def __init__(self, path: Path, committed: int) -> None:
        self.path = path
        self.size = committed
        self.rewind(committed)

    def write(self, rejects: Sequence[tuple[RawRecord, str]]) -> int:
        """Append and sync these (record, reason) pairs; returns the file's new length."""
        if rejects:
            lines = [
                json.dumps(
                    {"record": r.number, "line": r.line, "reason": reason, "raw": _unterminated(r.raw)},
                    ensure_ascii=False,
                ).encode()
                + b"\n"
                for r, reason in rejects
            ]
            with open(self.path, "ab") as out:
                out.write(b"".join(lines))
                out.flush()
                os.fsync(out.fileno())
                self.size = out.tell()
        return self.size

    def rewind(self, committed: int) -> None:
        """Cut the file back to ``committed`` bytes, dropping rejects whose batch did not commit."""
        if committed or self.path.exists():
            with open(self.path, "ab") as out:
                out.truncate(committed)
        self.size = committed


def _unterminated(raw: str) -> str:
    return raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith("\n") else raw
