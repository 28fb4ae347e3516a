"""Poison and bad messages: parked in dead letters with the reason, blocking nothing, replayable.

The tests that take ``landscape`` run on every store x broker pair (the ``backends`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.delivery.retry import RetryPolicy
from interlink.ports.broker import OutgoingMessage, Subscription
from interlink.ports.envelope import Envelope
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until

from .apps.fault_app import DOMAINS, FIX_ENV, PaymentRecorded, record_payment
from .support import Landscape, run_cli

POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def settings(landscape: Landscape, broker_url: str | None = None) -> Settings:
    """Both domains on the landscape's backends, with fast retries and short waits."""
    return Settings(
        store_url=landscape.store,
        broker_url=broker_url or landscape.broker,
        retry=POLICY,
        relay_poll_interval=0.1,
        fetch_wait=0.1,
    )


@pytest.mark.faults
async def test_poison_message_is_parked_after_its_attempts_and_replayed_once_when_fixed(
    landscape: Landscape,
) -> None:
    """One poison among 1,000 good is parked (attempts 3, its error), the rest applied once; replayed once."""
    good = [f"P{i:04d}" for i in range(1000)]
    commands = [{"id": id, "amount": i} for i, id in enumerate(good)]
    commands.insert(500, {"id": "P-poison", "amount": 1, "poison": True})
    async with Runtime(DOMAINS, settings(landscape)) as rt:
        for first in range(0, len(commands), 100):
            await asyncio.gather(*(rt["payment"].execute(record_payment, c) for c in commands[first : first + 100]))
        stats = rt["receipt"].consumers[0].stats
        await wait_until(
            lambda: stats.processed >= 1000 and stats.dead_lettered >= 1,
            timeout=60,
            what="1,000 events applied and the poison parked",
        )
        letters = await rt["receipt"].store.dead_letters()
        published = rt["payment"].relay.published
    assert published == 1001
    assert (stats.processed, stats.dead_lettered, stats.retried, stats.duplicates) == (1000, 1, 2, 0)
    assert stats.errors == {"RuntimeError": 3}
    async with landscape.counts() as counts:
        assert await counts.receipts() == dict.fromkeys(good, 1)
    (letter,) = letters
    assert letter.attempts == 3
    assert letter.message_type == "payment.PaymentRecorded"
    assert letter.error == "RuntimeError: cannot apply poison payment P-poison: the fix is not deployed"

    replay = ("dead-letters", "replay", "--reason", "fixed", "fault_app:receipt", str(letter.id), *landscape.urls())
    fixed = await run_cli(*replay, cwd=landscape.folder, **{FIX_ENV: "1"})  # type: ignore[arg-type]
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"replayed dead letter {letter.id}" in fixed.stdout
    async with landscape.counts() as counts:
        assert await counts.receipts() == dict.fromkeys([*good, "P-poison"], 1)
        assert await counts.dead_letters() == 0

    again = await run_cli(*replay, cwd=landscape.folder, **{FIX_ENV: "1"})  # type: ignore[arg-type]
    assert again.returncode == 2, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    # One error line, the last; a broker adapter may have logged a warning about its server before it.
    lines = again.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error")] == lines[-1:], again.stderr
    assert lines[-1] == f"error: no dead letter {letter.id} in domain 'receipt'"
    async with landscape.counts() as counts:
        assert await counts.receipts() == dict.fromkeys([*good, "P-poison"], 1)
        assert await counts.dead_letters() == 0


@pytest.mark.faults
async def test_replay_before_the_fix_fails_and_keeps_the_dead_letter(landscape: Landscape) -> None:
    """Replaying a poison message that still fails exits non-zero and leaves the letter parked, unapplied."""
    async with Runtime(DOMAINS, settings(landscape)) as rt:
        await rt["payment"].execute(record_payment, {"id": "P-poison", "amount": 1, "poison": True})
        letters = await wait_until(rt["receipt"].store.dead_letters, timeout=30, what="the poison parked")
    (letter,) = letters
    replay = ("dead-letters", "replay", "--reason", "fixed", "fault_app:receipt", str(letter.id), *landscape.urls())
    result = await run_cli(*replay, cwd=landscape.folder)
    assert result.returncode != 0
    assert "cannot apply poison payment P-poison" in result.stdout + result.stderr
    async with landscape.counts() as counts:
        assert await counts.parked() == [("payment.PaymentRecorded", 3)]
        assert await counts.receipts() == {}


def _raw(message_id: str, type: str, body: bytes) -> OutgoingMessage:
    return OutgoingMessage(message_id, "payment.events", type, body)


async def bad_messages_are_parked_at_once(landscape: Landscape, broker_url: str) -> None:
    """Publish an undecodable body, an unknown type and an invalid payload, then one good event."""
    now = datetime.now(UTC)

    def envelope(type: str, data: dict[str, object]) -> Envelope:
        return Envelope(id=uuid.uuid4().hex, source="payment", type=type, time=now, data=data)

    unknown = envelope("payment.PaymentRefunded", {"payment_id": "P1"})
    invalid = envelope(PaymentRecorded.message_type(), {"payment_id": "P2"})
    # Any body bytes travel through the port's publish on every broker: this is how a broken producer's
    # message would arrive.
    bad = {
        "garbage": _raw(uuid.uuid4().hex, PaymentRecorded.message_type(), b"\x00 not an envelope"),
        "unknown": _raw(unknown.id, unknown.type, unknown.encode()),
        "invalid": _raw(invalid.id, invalid.type, invalid.encode()),
    }
    async with Runtime(DOMAINS, settings(landscape, broker_url)) as rt:
        # The subscription still takes a type whose handler was removed since (subscriptions only widen).
        await rt.broker.subscribe(Subscription("receipt", ("payment.events",), frozenset({unknown.type})))
        await rt.broker.publish(list(bad.values()))
        await rt["payment"].execute(record_payment, {"id": "P-good", "amount": 5})
        stats = rt["receipt"].consumers[0].stats
        # Not waited for in vain: the counts below say which message did not arrive.
        with contextlib.suppress(TimeoutError):
            await wait_until(
                lambda: stats.processed >= 1 and stats.dead_lettered >= 3, timeout=15, what="3 parked, 1 applied"
            )
        letters = {d.message_id: d for d in await rt["receipt"].store.dead_letters()}
    assert {name: m.message_id in letters for name, m in bad.items()} == dict.fromkeys(bad, True)
    assert (stats.processed, stats.dead_lettered, stats.retried) == (1, 3, 0)
    async with landscape.counts() as counts:
        assert await counts.receipts() == {"P-good": 1}
    assert sorted(letters) == sorted(m.message_id for m in bad.values())
    assert {letters[m.message_id].attempts for m in bad.values()} == {1}
    assert letters[bad["garbage"].message_id].message_type == "?"
    assert letters[bad["garbage"].message_id].error.startswith("MalformedMessage: not a CloudEvents 1.0 envelope")
    assert letters[bad["garbage"].message_id].body == b"\x00 not an envelope"
    assert letters[unknown.id].error.startswith("UnknownMessageType: ")
    assert "payment.PaymentRefunded" in letters[unknown.id].error
    assert letters[invalid.id].error.startswith("InvalidPayload: ")
    assert "amount" in letters[invalid.id].error


async def test_bad_messages_are_parked_at_once_and_block_nothing(landscape: Landscape) -> None:
    """An undecodable body, an unknown type, an invalid payload: parked at attempt 1; a good one passes."""
    await bad_messages_are_parked_at_once(landscape, landscape.broker)


async def test_bad_messages_are_parked_at_once_on_the_memory_broker(tmp_path: Path) -> None:
    """The same three bad messages on the in-process memory broker (SQLite stores): parked at attempt 1."""
    landscape = Landscape(f"sqlite:///{tmp_path}/{{domain}}.db", "memory://", tmp_path)
    await bad_messages_are_parked_at_once(landscape, landscape.broker)


@pytest.mark.faults
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("fault_app", "fault_app names 2 domains (payment, receipt); name one as MODULE:DOMAIN"),
        ("no_such_app:receipt", "cannot import 'no_such_app'"),
    ],
    ids=["two-domains", "not-importable"],
)
async def test_replay_naming_no_single_domain_fails_cleanly(tmp_path: Path, target: str, expected: str) -> None:
    """Replay with a target that is not one domain exits 2 with one error line on stderr, no traceback."""
    urls = ("--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/bus.db")
    result = await run_cli("dead-letters", "replay", "--reason", "fixed", target, "1", *urls, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr: {result.stderr!r}; stdout: {result.stdout!r}"
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
