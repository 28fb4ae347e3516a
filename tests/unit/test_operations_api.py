"""The public names of interlink.operations, and the fingerprint that groups dead letters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import interlink.operations
from interlink.delivery.failures import error_name, failure_details, fingerprint
from interlink.ports.store import DeadLetter


def test_the_public_names_of_operations_are_pinned() -> None:
    """What clients may import from interlink.operations changes only on purpose."""
    assert sorted(interlink.operations.__all__) == [
        "ArrowFigures", "AuditEntry", "DeadLetterGroup", "DeadLetterView", "DomainStatus", "DomainTraffic",
        "FileStatus", "FlowMeter", "Operations", "Outcome", "ReplicaStatus", "SagaTimeline", "SagaView",
        "TimelineEntry", "TypeBacklog", "arrow_figures", "open_operations",
    ]  # fmt: skip


def _raise_here() -> None:
    raise KeyError("missing")


def test_the_fingerprint_depends_on_where_and_what_failed_not_on_the_message() -> None:
    """Same subscription, type, exception class and top frame: same fingerprint, whatever the message or text."""
    try:
        _raise_here()
    except KeyError as exc:
        trace, frame = failure_details(exc)
    assert frame == "test_operations_api.py:_raise_here"
    assert "KeyError" in trace
    letter = DeadLetter("s", "m1", "t", b"{}", "KeyError: 'missing'", 1, datetime.now(UTC), top_frame=frame)
    other = replace(letter, message_id="m2", body=b"[]", error="KeyError: 'other'")
    assert fingerprint(letter) == fingerprint(other)
    assert len(fingerprint(letter)) == 12
    assert fingerprint(replace(letter, error="ValueError: x")) != fingerprint(letter)
    assert fingerprint(replace(letter, top_frame="x.py:f")) != fingerprint(letter)
    assert fingerprint(replace(letter, subscription="s2")) != fingerprint(letter)
    assert error_name(replace(letter, error="no class here")) == "error"
