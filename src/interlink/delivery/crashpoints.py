"""Named crash points, so fault tests can SIGKILL a real process at an exact step of the protocol.

Set ``INTERLINK_CRASH_AT=<name>`` (or ``<name>:<n>`` to crash at the n-th pass) in a process's environment
and it kills itself with SIGKILL when it reaches that point: no cleanup, no flush, as a power cut would.
Unset, a crash point costs one comparison.

Points: ``relay.before_publish`` (outbox committed, nothing published), ``relay.after_publish``
(published and confirmed, not yet marked sent), ``consumer.before_commit`` (handler ran, nothing
committed), ``consumer.after_commit`` (effects and inbox mark committed, not yet acked),
``ingest.after_commit`` (a batch of file records and its checkpoint committed, nothing else done),
``replay.after_release`` (a released dead letter handled and removed, the next one released, not handled).
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "crash_point"]

POINTS = frozenset({"relay.before_publish", "relay.after_publish", "consumer.before_commit", "consumer.after_commit"})
POINTS |= {"ingest.after_commit", "replay.after_release"}


def _armed() -> tuple[str | None, int]:
    spec = os.environ.get("INTERLINK_CRASH_AT")
    if not spec:
        return None, 0
    name, _, nth = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"INTERLINK_CRASH_AT={spec!r}: no such crash point; known: {sorted(POINTS)}")
    return name, int(nth or 1)


_ARMED, _REMAINING = _armed()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if the environment armed this point (and its count ran out)."""
    global _REMAINING
    if name != _ARMED:
        return
    _REMAINING -= 1
    if _REMAINING <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
