"""The chaos run's counts, each bad one with its evidence, and how they are printed."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields

__all__ = ["BAD", "SETTLING", "Tally"]

#: The counts that must be zero.
BAD = ("lost", "duplicated", "wrong", "stuck", "unanswered", "rejected", "dead_lettered", "stale", "unfinished",
       "outbox", "crashed")  # fmt: skip
#: The bad counts that may still fall while messages are on their way (what settling waits on).
SETTLING = ("lost", "wrong", "stuck", "stale", "unfinished", "outbox")
#: Evidence lines printed per count; the rest are summed up.
SHOWN = 12


@dataclass
class Tally:
    """Counts over the load's operations (``acknowledged`` = applied + lost + duplicated + wrong + stuck) and
    over the stores, with evidence lines for every bad count."""

    acknowledged: int = 0
    applied: int = 0
    #: An acknowledged operation with an effect missing, nothing of it under way any more.
    lost: int = 0
    #: An acknowledged operation with an effect applied more than once.
    duplicated: int = 0
    #: An acknowledged operation decided otherwise than its plan says (or an address not the last one asked).
    wrong: int = 0
    #: An acknowledged operation still under way (its saga running, a command awaiting its answer, its file).
    stuck: int = 0
    #: Operations never acknowledged before the client gave up, or refused with an answer it cannot retry.
    unanswered: int = 0
    #: Good rows of the branch files that the intake rejected.
    rejected: int = 0
    dead_lettered: int = 0
    #: Copies behind their source (loan-request's borrowers and credit status, credit-offer's replica,
    #: risk-assessment's profiles once read).
    stale: int = 0
    #: Framework work not finished: sagas not ended, command requests outstanding, files not archived.
    unfinished: int = 0
    outbox: int = 0
    #: Processes that ended without being killed, or did not exit 0 on SIGTERM.
    crashed: int = 0
    evidence: dict[str, list[str]] = field(default_factory=dict)

    def add(self, count: str, line: str | None = None, n: int = 1) -> None:
        """Add ``n`` to ``count``, with a line of evidence."""
        setattr(self, count, getattr(self, count) + n)
        if line is not None:
            self.evidence.setdefault(count, []).append(line)

    def bad(self) -> dict[str, int]:
        """The bad counts that are not zero."""
        return {name: getattr(self, name) for name in BAD if getattr(self, name)}

    def settling(self) -> bool:
        """Nothing is on its way any more that could still change a count."""
        return not any(getattr(self, name) for name in SETTLING)

    def signature(self) -> tuple[int, ...]:
        """The counts, to tell whether anything moved."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "evidence")

    def summary(self) -> str:
        """One line of every count."""
        ops = (f"acknowledged {self.acknowledged} = applied {self.applied} + lost {self.lost} + duplicated "
               f"{self.duplicated} + wrong {self.wrong} + stuck {self.stuck}")  # fmt: skip
        rest = ", ".join(f"{name.replace('_', '-')} {getattr(self, name)}" for name in BAD[4:])
        return f"{ops}; {rest}"

    def report(self) -> str:
        """The summary and the evidence of each bad count (similar lines grouped)."""
        lines = [self.summary()]
        for count, evidence in self.evidence.items():
            groups = Counter(_shape(line) for line in evidence)
            example = {_shape(line): line for line in reversed(evidence)}
            lines.append(f"{count} ({len(evidence)} lines):")
            for shape, times in groups.most_common(SHOWN):
                lines.append(f"  {times} x {example[shape][:600]}")
            if len(groups) > SHOWN:
                lines.append(f"  ... and {len(groups) - SHOWN} other kinds")
        return "\n".join(lines)


def _shape(line: str) -> str:
    """A line with its numbers and ids blanked, so lines about different records group together."""
    return re.sub(r"\b[A-Za-z]*[0-9][0-9A-Za-z_.:-]*\b", "#", line)
