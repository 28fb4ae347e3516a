"""Poison and bad messages: parked in dead letters with the reason, blocking nothing, replayable."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from interlink.delivery.envelope import Envelope
from interlink.delivery.retry import RetryPolicy
from interlink.ports.broker import OutgoingMessage, Subscription
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until

from .apps.fault_app import DOMAINS, FIX_ENV, PaymentRecorded, record_payment
from .support import Workdir, run_cli

POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def settings(workdir: Workdir, broker_url: str | None = None) -> Settings:
    """Both domains on SQLite stores in the workdir, with fast retries and short waits."""
    return Settings(
        store_url=workdir.store_url,
        broker_url=broker_url or workdir.broker_url,
        retry=POLICY,
        relay_poll_interval=0.1,
        fetch_wait=0.1,
    )


@pytest.mark.faults
async def test_poison_message_is_parked_after_its_attempts_and_replayed_once_when_fixed(
    workdir: Workdir,
) -> None:
    """One poison among 1,000 good is parked (attempts 3, its error), the rest applied once; replayed once."""
    good = [f"P{i:04d}" for i in range(1000)]
    commands = [{"id": id, "amount": i} for i, id in enumerate(good)]
    commands.insert(500, {"id": "P-poison", "amount": 1, "poison": True})
    async with Runtime(DOMAINS, settings(workdir)) as rt:
        for first in range(0, len(commands), 100):
            await asyncio.gather(*(rt["payment"].execute(record_payment, c) for c in commands[first : first + 100]))
        stats = rt["receipt"].consumers[0].stats
        await wait_until(
            lambda: stats.processed >= 1000 and stats.dead_lettered >= 1,
            timeout=60,
            what="1,000 events applied and the poison parked",
        )
        letters = await rt["receipt"].store.dead_letters()
    assert (stats.processed, stats.dead_lettered, stats.retried) == (1000, 1, 2)
    assert stats.errors == {"RuntimeError": 3}
    assert workdir.receipts() == dict.fromkeys(good, 1)
    (letter,) = letters
    assert letter.attempts == 3
    assert letter.message_type == "payment.PaymentRecorded"
    assert letter.error == "RuntimeError: cannot apply poison payment P-poison: the fix is not deployed"

    replay = ("dead-letters", "replay", "fault_app:receipt", str(letter.id))
    urls = ("--store", workdir.store_url, "--broker", workdir.broker_url)
    fixed = run_cli(*replay, *urls, cwd=workdir.path, **{FIX_ENV: "1"})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"replayed dead letter {letter.id}" in fixed.stdout
    assert workdir.receipts() == dict.fromkeys([*good, "P-poison"], 1)
    assert workdir.dead_letters() == 0

    again = run_cli(*replay, *urls, cwd=workdir.path, **{FIX_ENV: "1"})
    assert again.returncode == 2, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert again.stderr.strip().splitlines() == [f"error: no dead letter {letter.id} in domain 'receipt'"]
    assert workdir.receipts() == dict.fromkeys([*good, "P-poison"], 1)


@pytest.mark.faults
async def test_replay_before_the_fix_fails_and_keeps_the_dead_letter(workdir: Workdir) -> None:
    """Replaying a poison message that still fails exits non-zero and leaves the letter parked, unapplied."""
    async with Runtime(DOMAINS, settings(workdir)) as rt:
        await rt["payment"].execute(record_payment, {"id": "P-poison", "amount": 1, "poison": True})
        letters = await wait_until(rt["receipt"].store.dead_letters, timeout=30, what="the poison parked")
    (letter,) = letters
    urls = ("--store", workdir.store_url, "--broker", workdir.broker_url)
    result = run_cli("dead-letters", "replay", "fault_app:receipt", str(letter.id), *urls, cwd=workdir.path)
    assert result.returncode != 0
    assert "cannot apply poison payment P-poison" in result.stdout + result.stderr
    assert workdir.dead_letters() == 1
    assert workdir.receipts() == {}


def _raw(message_id: str, type: str, body: bytes) -> OutgoingMessage:
    return OutgoingMessage(message_id, "payment.events", type, body)


@pytest.mark.parametrize("broker", ["memory", "embedded"])
async def test_bad_messages_are_parked_at_once_and_block_nothing(workdir: Workdir, broker: str) -> None:
    """An undecodable body, an unknown type, an invalid payload: parked at attempt 1; a good one passes."""
    broker_url = "memory://" if broker == "memory" else workdir.broker_url
    now = datetime.now(UTC)

    def envelope(type: str, data: dict[str, object]) -> Envelope:
        return Envelope(id=uuid.uuid4().hex, source="payment", type=type, time=now, data=data)

    unknown = envelope("payment.PaymentRefunded", {"payment_id": "P1"})
    invalid = envelope(PaymentRecorded.message_type(), {"payment_id": "P2"})
    bad = {
        "garbage": _raw(uuid.uuid4().hex, PaymentRecorded.message_type(), b"\x00 not an envelope"),
        "unknown": _raw(unknown.id, unknown.type, unknown.encode()),
        "invalid": _raw(invalid.id, invalid.type, invalid.encode()),
    }
    async with Runtime(DOMAINS, settings(workdir, broker_url)) as rt:
        # The subscription still takes a type whose handler was removed since (subscriptions only widen).
        await rt.broker.subscribe(Subscription("receipt", ("payment.events",), frozenset({unknown.type})))
        await rt.broker.publish(list(bad.values()))
        await rt["payment"].execute(record_payment, {"id": "P-good", "amount": 5})
        stats = rt["receipt"].consumers[0].stats
        await wait_until(
            lambda: stats.processed >= 1 and stats.dead_lettered >= 3, timeout=30, what="3 parked, 1 applied"
        )
        letters = {d.message_id: d for d in await rt["receipt"].store.dead_letters()}
    assert (stats.processed, stats.dead_lettered, stats.retried) == (1, 3, 0)
    assert workdir.receipts() == {"P-good": 1}
    assert sorted(letters) == sorted(m.message_id for m in bad.values())
    assert {letters[m.message_id].attempts for m in bad.values()} == {1}
    assert letters[bad["garbage"].message_id].message_type == "?"
    assert letters[bad["garbage"].message_id].error.startswith("MalformedMessage: not a CloudEvents 1.0 envelope")
    assert letters[bad["garbage"].message_id].body == b"\x00 not an envelope"
    assert letters[unknown.id].error.startswith("UnknownMessageType: ")
    assert "payment.PaymentRefunded" in letters[unknown.id].error
    assert letters[invalid.id].error.startswith("InvalidPayload: ")
    assert "amount" in letters[invalid.id].error


@pytest.mark.faults
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("fault_app", "fault_app names 2 domains (payment, receipt); name one as MODULE:DOMAIN"),
        ("no_such_app:receipt", "cannot import 'no_such_app'"),
    ],
    ids=["two-domains", "not-importable"],
)
def test_replay_naming_no_single_domain_fails_cleanly(workdir: Workdir, target: str, expected: str) -> None:
    """Replay with a target that is not one domain exits 2 with one error line on stderr, no traceback."""
    urls = ("--store", workdir.store_url, "--broker", workdir.broker_url)
    result = run_cli("dead-letters", "replay", target, "1", *urls, cwd=workdir.path)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr: {result.stderr!r}; stdout: {result.stdout!r}"
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
