"""Retry by error class: what a failure is, and whether its message is retried (after how long) or parked.

:func:`classify` sorts a failure into one of three classes:

- ``transient``: an :class:`~interlink.exceptions.AdapterError` whose ``transient`` is true (a source, the
  store or the broker unavailable, an open circuit, a read lag) or a timeout. It is retried for the
  policy's time ``budget`` since the message's first transient failure and never uses up its attempts.
  The delay is the backoff of the transient failures so far, and at least the ``retry_after`` the error
  carries: a call refused by an open circuit waits for the circuit's half-open probe.
- ``permanent``: the message can never be processed (a :class:`~interlink.exceptions.MessageError`, a
  validation error, a business rule): parked at once, with its reason.
- ``poison``: any other exception of a handler: parked after ``max_attempts`` such failures.

:class:`FailureLedger` keeps, per message in trouble, the count of each class and the time of the first
transient failure, and gives a :class:`Verdict`. It deliberately ignores the broker's delivery count,
which also counts redeliveries after outages, visibility timeouts and restarts. The ledger lives in the
consumer's process: after a restart a message starts a fresh count, so a restart can only delay its
parking, never hasten it; a letter parked after its transient budget is redriven once its source
answers again (see :class:`~interlink.runtime.domain_runtime.DomainRuntime`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from interlink.core.retry import RetryPolicy
from interlink.exceptions import AdapterError, BusinessRuleError, InvalidInput, MessageError

__all__ = ["PERMANENT", "ErrorClass", "FailureLedger", "RetryPolicy", "Verdict", "classify", "retry_after"]

ErrorClass = Literal["transient", "permanent", "poison"]

#: Failures that no number of attempts can fix: the message itself, or what it asks for, is wrong.
PERMANENT: tuple[type[BaseException], ...] = (MessageError, BusinessRuleError, InvalidInput, ValidationError)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(error: BaseException) -> ErrorClass:
    """The class of a failure: ``transient``, ``permanent`` or ``poison`` (see the module docstring)."""
    if isinstance(error, AdapterError) and error.transient:
        return "transient"
    if isinstance(error, TimeoutError):
        return "transient"
    if isinstance(error, PERMANENT):
        return "permanent"
    return "poison"


def retry_after(error: BaseException) -> float | None:
    """The longest ``retry_after`` an adapter error in ``error``'s cause chain asks for, if any."""
    asked = [e.retry_after for e in _chain(error) if isinstance(e, AdapterError) and e.retry_after is not None]
    return max(asked) if asked else None


@dataclass(frozen=True)
class Verdict:
    """What to do with a failed message: park it now, or retry it after ``delay`` seconds.

    ``attempts`` is the number of failures of its class so far (1 for a permanent one).
    """

    error_class: ErrorClass
    park: bool
    delay: float
    attempts: int


@dataclass
class _Record:
    transient: int = 0
    poison: int = 0
    first_transient: float | None = None  # clock seconds of the first transient failure
    last: float = 0.0  # clock seconds of the last failure


class FailureLedger:
    """The failures of the messages one consumer has in trouble, by class; forgets settled messages.

    Times are seconds of the consumer's clock (``datetime.timestamp()`` of a controllable clock in tests).
    """

    def __init__(self, *, forget_after: float = 3600.0) -> None:
        self._records: dict[str, _Record] = {}
        # A message that went to another consumer is never settled here: its record is dropped once it
        # has been quiet for longer than any budget is likely to be.
        self._forget_after = forget_after
        self._swept = 0.0

    def __len__(self) -> int:
        return len(self._records)

    def judge(
        self,
        message_id: str,
        error: BaseException,
        policy: RetryPolicy,
        now: float,
        error_class: ErrorClass | None = None,
    ) -> Verdict:
        """Record a failure of ``message_id`` at ``now`` and say what to do; ``error_class`` overrides
        :func:`classify` (a commit that failed on a store error is transient whatever it raised)."""
        kind = error_class or classify(error)
        self._sweep(now, policy)
        if kind == "permanent":
            return Verdict(kind, True, 0.0, 1)
        record = self._records.setdefault(message_id, _Record())
        record.last = now
        if kind == "poison":
            record.poison += 1
            park = policy.exhausted(record.poison)
            return Verdict(kind, park, 0.0 if park else policy.delay(record.poison), record.poison)
        record.transient += 1
        if record.first_transient is None:
            record.first_transient = now
        if policy.spent(now - record.first_transient):
            return Verdict(kind, True, 0.0, record.transient)
        delay = policy.delay(record.transient)
        wait = retry_after(error)
        if wait is not None:
            # Not earlier than the circuit's probe (or the source's Retry-After), with a little jitter so
            # the messages that waited together are not refused together by a half-open circuit.
            delay = max(delay, wait + policy.delay(1))
        return Verdict(kind, False, delay, record.transient)

    def settled(self, message_id: str) -> None:
        """The message was processed or parked: forget it."""
        self._records.pop(message_id, None)

    def _sweep(self, now: float, policy: RetryPolicy) -> None:
        horizon = max(self._forget_after, policy.budget * 2)
        if now - self._swept < horizon / 10:
            return
        self._swept = now
        for message_id in [m for m, r in self._records.items() if now - r.last > horizon]:
            del self._records[message_id]
