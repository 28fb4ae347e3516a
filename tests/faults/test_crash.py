"""SIGKILL at each named crash point of the delivery protocol, restart, count: nothing lost, nothing twice."""

from __future__ import annotations

import pytest

from .support import Workdir, run_runner

pytestmark = pytest.mark.faults

N = 200
# Small batches, so the crash (at the third pass of its point) lands with earlier batches fully through,
# a batch in hand, and later commands not yet run; a short visibility timeout brings redeliveries fast.
OPTIONS = ("--chunk", "25", "--relay-batch", "20", "--consumer-batch", "20", "--visibility-timeout", "1")


@pytest.mark.parametrize(
    "crash_at",
    [
        "relay.before_publish:3",
        "relay.after_publish:3",
        "consumer.before_commit:3",
        "consumer.after_commit:3",
    ],
    ids=lambda spec: spec.split(":")[0],
)
def test_killed_at_crash_point_then_restarted_applies_every_event_exactly_once(workdir: Workdir, crash_at: str) -> None:
    """A process SIGKILLed at the crash point, then restarted, leaves each of N events applied once."""
    crashed = run_runner(workdir, "both", N, *OPTIONS, crash_at=crash_at)
    assert crashed.returncode == -9, crashed.describe()
    # The kill left work for the restart: events not yet applied, and for the relay, rows not yet sent.
    assert len(workdir.receipts()) < N
    if crash_at.startswith("relay."):
        assert workdir.outbox() > 0

    restarted = run_runner(workdir, "both", N, *OPTIONS)
    assert restarted.returncode == 0, restarted.describe()

    receipts = workdir.receipts()
    assert workdir.payments() == N
    assert len(receipts) == N
    assert sorted(receipts) == [f"P{i:05d}" for i in range(N)]
    assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
    assert workdir.outbox() == 0
    assert workdir.dead_letters() == 0
    if crash_at.startswith("consumer.after_commit"):
        # The batch committed before the kill came back and the inbox recognised every message of it.
        assert restarted.report["duplicates"] >= 1, restarted.describe()


def test_killed_after_parking_a_dead_letter_then_restarted_parks_it_once(workdir: Workdir) -> None:
    """A dead letter committed but not acked before a SIGKILL keeps one row after the restart, not two."""
    # The only message fails its three attempts; the third pass of consumer.after_commit is the commit of
    # its dead letter. The restarted process gets the message again (attempt 4), its handler fails again,
    # and parking it updates the one row it has (now 4 attempts) instead of adding a second.
    options = ("--poison", "1", "--max-attempts", "3", "--visibility-timeout", "1")
    crashed = run_runner(workdir, "both", 0, *options, crash_at="consumer.after_commit:3")
    assert crashed.returncode == -9, crashed.describe()
    assert workdir.parked() == [("payment.PaymentRecorded", 3)]

    restarted = run_runner(workdir, "both", 0, *options)
    assert restarted.returncode == 0, restarted.describe()
    assert workdir.receipts() == {}
    assert workdir.parked() == [("payment.PaymentRecorded", 4)]
