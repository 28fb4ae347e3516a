"""Command events on a Landscape (memory store and broker, manual clock): handles, on_reply, duplicates,
unknown replies, timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from interlink import Command, Context, Domain, Reply
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import ConfigurationError
from interlink.patterns.command_events.deadlines import DeadlineWatch
from interlink.patterns.command_events.declarations import REPLY_KIND, REQUEST_KIND, Outcome, ReplyData, reply_type_of
from interlink.patterns.command_events.pattern import CommandEvents
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.runtime import DomainRuntime, Settings
from interlink.testing import Landscape, wait_until
from tests.support.command_events_app import (
    Notice,
    Notify,
    Ping,
    SendPing,
    SendSms,
    Sms,
    lending,
    notify,
    partner,
    ping,
)

SETTINGS = Settings(fetch_wait=0.05, relay_poll_interval=0.05)


async def _notice(land: Landscape, id: str) -> Notice | None:
    stored = await land.store(lending).load("Notice", id)
    return Notice.model_validate_json(stored.data) if stored else None


async def _sms_runs(land: Landscape, id: str) -> int:
    stored = await land.store(partner).load("Sms", id)
    return Sms.model_validate_json(stored.data).runs if stored else 0


async def test_a_command_event_runs_in_the_target_and_its_confirmation_reaches_the_issuer() -> None:
    """The target runs SendSms once and the issuer's reply handler records the confirmation."""
    async with Landscape([lending, partner]) as land:
        await land.execute(notify, Notify(sms_id="s1"))
        await land.settle()
        notice = await _notice(land, "s1")
        assert notice is not None
        assert (notice.outcome, notice.confirmed_runs, notice.replies) == ("confirmed", 1, 1)
        assert await _sms_runs(land, "s1") == 1
        assert await land.store(lending).list_aggregates(REQUEST_KIND, where={}, after=None, limit=10) == []


async def test_a_business_failure_becomes_a_failure_reply_and_its_effects_are_dropped() -> None:
    """CommandRejected in the target gives the issuer a failed reply with the reason; the target saves nothing."""
    async with Landscape([lending, partner]) as land:
        await land.execute(notify, Notify(sms_id="s2", refuse=True))
        await land.settle()
        notice = await _notice(land, "s2")
        assert notice is not None
        assert notice.outcome == "failed"
        assert notice.reason == "sms s2 refused: number barred"
        assert await _sms_runs(land, "s2") == 0


def _command(command: Command, command_id: str, *, reply_to: str | None = "lending.replies") -> OutgoingMessage:
    envelope = Envelope(
        id=new_message_id(),
        source="lending",
        type=command.message_type(),
        time=datetime.now(UTC),
        data=command.model_dump(mode="json"),
        targetdomain="partner",
        replyto=reply_to,
        commandid=command_id,
    )
    return OutgoingMessage.of(envelope)


async def test_a_duplicate_command_is_answered_from_the_stored_reply_without_running_again() -> None:
    """The same command id sent twice (two message ids) runs once; both replies carry the first outcome."""
    async with Landscape([lending, partner]) as land:
        command = SendSms(sms_id="s3", text="hi")
        await land.broker.publish([_command(command, "cmd-3", reply_to=None)])
        await land.settle()
        await land.broker.publish([_command(command, "cmd-3", reply_to=None)])
        await land.settle()
        assert land["partner"].consumers[0].stats.processed == 2
        assert await _sms_runs(land, "s3") == 1
        stored = await land.store(partner).load(REPLY_KIND, "cmd-3")
        assert stored is not None
        reply = ReplyData.model_validate_json(stored.data)
        assert reply.outcome is Outcome.CONFIRMED
        assert reply.confirmation == {"sms_id": "s3", "runs": 1}


async def test_a_reply_for_an_unknown_command_id_is_logged_and_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    """A reply nobody waits for changes nothing, is not parked, and is acknowledged."""
    async with Landscape([lending, partner]) as land:
        data = ReplyData(outcome=Outcome.CONFIRMED, command_type=SendSms.message_type(), confirmation={})
        envelope = Envelope(
            id=new_message_id(),
            source="partner",
            type=reply_type_of(SendSms),
            time=datetime.now(UTC),
            data=data.model_dump(mode="json"),
            inreplyto="nobody-asked",
        )
        message = OutgoingMessage.of(envelope)
        await land.broker.publish([OutgoingMessage(message.message_id, "lending.replies", message.type, message.body)])
        await land.settle()
        consumer = land["lending"].consumers[0]
        assert (consumer.stats.processed, consumer.stats.dead_lettered) == (1, 0)
        assert await land.store(lending).list_aggregates("Notice", where={}, after=None, limit=10) == []
        assert "answers no outstanding request 'nobody-asked'" in caplog.text


async def test_a_deadline_without_a_reply_delivers_one_timeout_reply() -> None:
    """A Ping to a domain that never answers times out once; later scans do not time it out again."""
    async with Landscape([lending]) as land:
        await land.execute(ping, SendPing(ping_id="p1", deadline_seconds=20))
        await land.advance(19)
        assert await _notice(land, "p1") is None
        await land.advance(1)
        notice = await _notice(land, "p1")
        assert notice is not None
        assert notice.outcome == "timed_out"
        await land.advance(60)
        assert (await _notice(land, "p1")) == notice
        events = land["lending"].part(CommandEvents)
        assert events is not None
        assert events.deadlines is not None
        watch = events.deadlines
        assert watch.timed_out == 1


async def test_a_real_reply_after_the_timeout_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """The target comes back after the deadline passed: its reply is acknowledged, the timeout stands."""
    async with Landscape([lending, partner]) as land:
        async with land.down(partner):
            await land.execute(notify, Notify(sms_id="s4", deadline_seconds=20))
            await land.advance(21)
            assert await _notice(land, "s4") is not None
        await land.settle()
        assert "answers no outstanding request" in caplog.text
        notice = await _notice(land, "s4")
        assert notice is not None
        assert (notice.outcome, notice.replies) == ("timed_out", 1)


def test_on_reply_checks_the_handler_signature() -> None:
    """A reply handler that does not take a Reply is refused when declared."""
    domain = Domain("checker")

    with pytest.raises(ConfigurationError, match="must take"):

        @domain.on_reply(SendSms)
        async def wrong(ctx: Context, reply: SendSms) -> None: ...


def test_handles_refuses_another_domains_command() -> None:
    """A domain cannot handle a command event another domain declared."""
    domain = Domain("intruder")
    with pytest.raises(ConfigurationError, match="is a command of domain 'partner'"):
        domain.handles(SendSms)


def test_a_reply_handler_receives_a_typed_reply() -> None:
    """Reply exposes the outcome as properties."""
    reply: Reply[SendSms, BaseModel] = Reply(
        outcome=Outcome.TIMED_OUT, command=SendSms(sms_id="x", text="t"), command_id="c", correlation_id="k"
    )
    assert reply.timed_out
    assert not reply.confirmed
    assert not reply.failed


async def test_a_failing_timeout_handler_does_not_stop_the_deadline_watch(caplog: pytest.LogCaptureFixture) -> None:
    """A reply handler that raises on a timeout leaves the request outstanding; the next tick tries again."""
    domain = Domain("flaky-issuer")
    attempts: list[str] = []

    @domain.on_reply(Ping)
    async def ping_replied(ctx: Context, reply: Reply[Ping, BaseModel]) -> None:
        attempts.append(reply.command.ping_id)
        if len(attempts) == 1:
            raise RuntimeError("handler broke on the first try")

    @domain.command
    async def send_ping(ctx: Context, data: SendPing) -> None:
        ctx.send(Ping(ping_id=data.ping_id), to="silent", deadline=datetime.now(UTC))

    async with MemoryBroker() as broker, MemoryStore(domain=domain.name) as store:
        runtime = DomainRuntime(domain, store, broker, SETTINGS)
        await runtime.execute(send_ping, SendPing(ping_id="p9"))
        events = runtime.part(CommandEvents)
        assert events is not None
        assert events.deadlines is not None
        assert await events.deadlines.tick() == 0
        assert "handler broke on the first try" in caplog.text
        assert await events.deadlines.tick() == 1
        assert attempts == ["p9", "p9"]
        assert await store.list_aggregates(REQUEST_KIND, where={}, after=None, limit=10) == []


async def test_a_deadline_that_passed_while_the_issuer_was_down_times_out_after_its_restart() -> None:
    """Outstanding requests live in the store: a new runtime on it delivers the timeout the old one missed."""
    async with MemoryBroker() as broker:
        store = MemoryStore(domain="lending")
        before = DomainRuntime(lending, store, broker, SETTINGS)
        await before.prepare()  # connected and subscribed, but no deadline watch running
        await before.execute(ping, SendPing(ping_id="p5", deadline_seconds=0.01))
        assert len(await store.list_aggregates(REQUEST_KIND, where={}, after=None, limit=10)) == 1
        await store.close()

        after = DomainRuntime(lending, store, broker, SETTINGS)
        await after.start()
        try:
            stored = await wait_until(lambda: store.load("Notice", "p5"), 5, what="the timeout after the restart")
            assert Notice.model_validate_json(stored.data).outcome == "timed_out"
        finally:
            await after.stop()


class _NoScanStore(MemoryStore):
    """A memory store that refuses to list requests: the deadline watch must find them by due time."""

    async def _list_aggregates(self, kind: str, **kwargs: Any) -> Any:
        assert kind != REQUEST_KIND, "the deadline watch scanned the outstanding requests"
        return await super()._list_aggregates(kind, **kwargs)


@dataclass
class _Clock:
    """A clock the test moves by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at


async def test_the_deadline_watch_finds_due_requests_by_due_time_page_by_page() -> None:
    """One tick times out every request due, through Store.due pages of its batch; later ones stay due later."""
    domain = Domain("paging-issuer")
    timed_out: list[str] = []

    @domain.on_reply(Ping)
    async def ping_replied(ctx: Context, reply: Reply[Ping, BaseModel]) -> None:
        timed_out.append(reply.command.ping_id)

    @domain.command
    async def send_ping(ctx: Context, data: SendPing) -> None:
        ctx.send(Ping(ping_id=data.ping_id), to="silent", deadline=timedelta(seconds=data.deadline_seconds))

    clock = _Clock(datetime(2026, 1, 1, tzinfo=UTC))
    async with MemoryBroker() as broker, _NoScanStore(domain=domain.name) as store:
        runtime = DomainRuntime(domain, store, broker, SETTINGS, clock=clock)
        for n in range(5):
            await runtime.execute(send_ping, SendPing(ping_id=f"soon-{n}", deadline_seconds=10 + n))
        await runtime.execute(send_ping, SendPing(ping_id="later", deadline_seconds=3600))
        watch = DeadlineWatch(domain, store, runtime.committer, clock, batch=2)

        assert await watch.tick() == 0
        clock.at += timedelta(seconds=60)
        assert await watch.tick() == 5
        assert timed_out == [f"soon-{n}" for n in range(5)]
        assert [due.id for due in await store.due(REQUEST_KIND, clock.at.timestamp(), 10)] == []
        clock.at += timedelta(hours=1)
        assert await watch.tick() == 1
        assert timed_out[-1] == "later"


async def test_a_request_is_due_at_its_deadline_until_its_reply_settles_it() -> None:
    """The unit of work dates a request with its deadline when it sends it; the reply's commit removes it."""
    async with MemoryBroker() as broker:
        issuer = DomainRuntime(lending, MemoryStore(domain="lending"), broker, SETTINGS)
        target = DomainRuntime(partner, MemoryStore(domain="partner"), broker, SETTINGS)
        await target.prepare()  # subscribed, but not running: the request stays outstanding
        await issuer.start()
        try:
            sent = datetime.now(UTC).timestamp()
            await issuer.execute(notify, Notify(sms_id="s7", deadline_seconds=3600))
            [due] = await issuer.store.due(REQUEST_KIND, sent + 7200, 10)
            assert sent + 3600 <= due.due_at <= datetime.now(UTC).timestamp() + 3600
            assert await issuer.store.due(REQUEST_KIND, sent + 3599, 10) == []
            await target.start()
            notice = await wait_until(lambda: land_notice(issuer, "s7"), 5, what="the reply")
            assert notice.outcome == "confirmed"
            assert await issuer.store.due(REQUEST_KIND, sent + 7200, 10) == []
        finally:
            await issuer.stop()
            await target.stop()


async def land_notice(issuer: DomainRuntime, id: str) -> Notice | None:
    """The issuer's notice of one SMS, once its reply handler ran."""
    stored = await issuer.store.load("Notice", id)
    return Notice.model_validate_json(stored.data) if stored else None
