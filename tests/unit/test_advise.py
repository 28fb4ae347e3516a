"""The advice rule of ``interlink advise``: change rate against read rate, then fetch cost against payload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlink.patterns.notification import Figures, advise

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def figures(received: int, served: int, fetches: int = 0, seconds: float = 0.0, size: int = 0) -> Figures:
    """Ten minutes of traffic of one subscription."""
    return Figures(
        "customer.CustomerChanged", "notification", received, fetches, served, 0, seconds, size, 0, None,
        NOW - timedelta(minutes=10),
    )  # fmt: skip


def test_changes_outnumbering_reads_advise_deferred_update() -> None:
    """500 changes and 20 reads: deferred update, with both counts and the rates per minute."""
    advice = advise(figures(500, 20, fetches=500, seconds=5.0, size=500 * 2000), NOW)
    assert advice.pattern == "deferred"
    assert advice.recommendation == "deferred update"
    assert "500 changes against 20 reads" in advice.reason
    assert (advice.changes_per_minute, advice.reads_per_minute) == (50.0, 2.0)


def test_reads_outnumbering_changes_with_a_small_payload_advise_state_transfer() -> None:
    """More reads than changes and 300 B payloads: carrying the state beats a fetch per change."""
    advice = advise(figures(100, 1000, fetches=100, seconds=2.0, size=100 * 300), NOW)
    assert advice.pattern == "ecst"
    assert "a fetch takes 20.0 ms for 300 B" in advice.reason


def test_reads_outnumbering_changes_with_a_large_payload_advise_notification() -> None:
    """More reads than changes but 200 kB payloads fetched quickly: keep fetching per change."""
    advice = advise(figures(100, 1000, fetches=100, seconds=1.0, size=100 * 200_000), NOW)
    assert advice.pattern == "notification"
    assert "too large to carry" in advice.reason


def test_slow_fetch_of_a_medium_payload_advises_state_transfer() -> None:
    """A 20 kB payload is worth carrying when each fetch takes 150 ms."""
    advice = advise(figures(100, 1000, fetches=100, seconds=15.0, size=100 * 20_000), NOW)
    assert advice.pattern == "ecst"


def test_no_traffic_keeps_the_declared_pattern() -> None:
    """With no notification yet, there is nothing to judge by: keep what is declared."""
    advice = advise(figures(0, 0), NOW)
    assert advice.pattern == "keep"
    assert advice.recommendation == "keep state change notification"
    assert advice.changes_per_minute == 0.0
