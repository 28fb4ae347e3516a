"""The operations facade on every store (memory, SQLite, PostgreSQL): dead-letter groups, replay, discard,
edit and replay, saga actions, the audit log and the domain status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.adapters.stores.sql import SqlStore
from interlink.delivery.flow_tally import FLOW_KIND, flow_id
from interlink.exceptions import InvalidInput, InvalidPayload, NotFoundError
from interlink.operations import FlowMeter, Operations, arrow_figures
from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, Retained, Store
from interlink.runtime import DomainRuntime, Settings
from interlink.runtime.backends import open_store
from interlink.specs import collect
from interlink.specs.landscape import build_landscape
from interlink.testing.waiting import wait_until
from tests.support.command_events_app import Journal, StartOrigination, lending, originate, partner
from tests.support.ecst_app import credit
from tests.support.operations_app import Balance, ledger, park_posting, posted_envelope
from tests.support.services import fresh_name, require

ACTOR = "alice"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL template with ``{domain}``, fresh for this test."""
    if request.param == "memory":
        yield f"memory://{fresh_name('ops')}"
        return
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/{{domain}}.db"
        return
    base = require("postgres").url
    prefix = fresh_name("ops")
    yield f"{base}?schema={prefix}_{{domain}}"
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        found = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": f"{prefix}_%"})
        for (name,) in found.all():
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """The ledger's store, connected."""
    async with open_store(store_url, ledger.name) as s:
        yield s


async def balance(store: Store, account: str) -> Balance | None:
    """The account's balance as stored."""
    found = await store.load("Balance", account)
    return Balance.model_validate_json(found.data) if found else None


async def test_letters_are_grouped_by_fingerprint_with_counts_and_first_and_last_seen(store: Store) -> None:
    """Two failures at the same place share a group; one raised elsewhere gets its own."""
    a = await park_posting(store, "a", -1)
    b = await park_posting(store, "b", -2)
    c = await park_posting(store, "c", 5)
    ops = Operations(ledger, store)
    groups = {g.count: g for g in await ops.dead_letter_groups()}
    assert set(groups) == {1, 2}
    pair = groups[2]
    assert (pair.letter_ids, pair.error_name, pair.top_frame) == (
        [a.id, b.id],
        "ValueError",
        "operations_app.py:check_amount",
    )
    assert pair.first_seen <= pair.last_seen
    assert groups[1].letter_ids == [c.id]
    listed = await ops.dead_letters(group=pair.fingerprint)
    assert [v.id for v in listed] == [a.id, b.id]
    assert a.id is not None
    view = await ops.dead_letter(a.id)
    assert view.payload == {"account": "a", "amount": -1}
    assert view.envelope is not None
    assert view.envelope["id"] == a.message_id
    assert view.traceback is not None
    assert "check_amount" in view.traceback
    assert view.mask().payload is None


async def test_replay_of_a_group_applies_each_letter_once_and_audits_it(store: Store) -> None:
    """A group replayed after the fix: each posting applied once, letters gone, one audit entry per letter."""
    await park_posting(store, "a", 3, subscription="ledger")
    await park_posting(store, "a", 4, subscription="ledger")
    ops = Operations(ledger, store)
    (group,) = await ops.dead_letter_groups()
    outcomes = await ops.replay_group(group.fingerprint, actor=ACTOR, reason="parser fixed")
    await ops.close()
    assert [o.outcome for o in outcomes] == ["replayed", "replayed"]
    found = await balance(store, "a")
    assert found is not None
    assert (found.total, found.postings) == (7, 2)
    assert await store.dead_letters() == []
    entries = await ops.audit()
    assert [(e.actor, e.action, e.reason, e.after) for e in entries] == [
        (ACTOR, "dead_letter.replay", "parser fixed", {"outcome": "replayed"})
    ] * 2
    again = await ops.replay(group.letter_ids, actor=ACTOR, reason="twice")
    assert [o.outcome for o in again] == ["gone", "gone"]


async def test_a_replay_that_fails_again_keeps_the_letter_and_audits_the_failure(store: Store) -> None:
    """A negative posting fails again: the letter stays, the outcome says why, the attempt is on record."""
    letter = await park_posting(store, "a", -1)
    assert letter.id is not None
    ops = Operations(ledger, store)
    (outcome,) = await ops.replay([letter.id], actor=ACTOR, reason="try again")
    assert outcome.outcome == "failed"
    assert outcome.error is not None
    assert "negative amount" in outcome.error
    assert [d.id for d in await store.dead_letters()] == [letter.id]
    (entry,) = await ops.audit()
    assert entry.after["outcome"] == "failed"


async def test_edit_and_replay_handles_a_copy_with_a_new_id_and_resolves_the_original(store: Store) -> None:
    """The edited copy is applied under a new id linked to the original; the letter is gone; before/after audited."""
    letter = await park_posting(store, "e", -10)
    assert letter.id is not None
    ops = Operations(ledger, store)
    with pytest.raises(InvalidPayload, match="amount"):
        await ops.edit_and_replay(letter.id, {"account": "e", "amount": "ten"}, actor=ACTOR, reason="typo")
    assert await store.dead_letter(letter.id) is not None  # a refused edit changes nothing
    new_id = await ops.edit_and_replay(letter.id, {"account": "e", "amount": 10}, actor=ACTOR, reason="sign flipped")
    await ops.close()
    assert new_id != letter.message_id
    assert await store.dead_letter(letter.id) is None
    found = await balance(store, "e")
    assert found is not None
    assert found.total == 10
    assert await store.seen("ledger", [new_id]) == {new_id}
    (entry,) = await ops.audit()
    assert entry.action == "dead_letter.edit"
    assert entry.before["payload"] == {"account": "e", "amount": -10}
    assert entry.after == {
        "message_id": new_id, "replayof": letter.message_id, "payload": {"account": "e", "amount": 10},
        "outcome": "replayed",
    }  # fmt: skip


async def test_an_edit_whose_copy_fails_keeps_the_original(store: Store) -> None:
    """A valid edit the handler still refuses: the original letter stays, nothing is applied."""
    letter = await park_posting(store, "f", -10)
    assert letter.id is not None
    ops = Operations(ledger, store)
    with pytest.raises(ValueError, match="negative amount"):
        await ops.edit_and_replay(letter.id, {"account": "f", "amount": -20}, actor=ACTOR, reason="still wrong")
    assert await store.dead_letter(letter.id) is not None
    assert await balance(store, "f") is None


async def test_discard_drops_letters_keeping_their_message_in_the_audit_log(store: Store) -> None:
    """Discarded letters are gone; each audit entry holds its message; actions need a reason."""
    a = await park_posting(store, "a", -1)
    b = await park_posting(store, "b", -2)
    ops = Operations(ledger, store)
    with pytest.raises(InvalidInput, match="reason"):
        await ops.discard([a.id or 0], actor=ACTOR, reason="  ")
    assert await ops.discard([a.id or 0, b.id or 0, 999_999], actor=ACTOR, reason="test data") == 2
    assert await store.dead_letters() == []
    entries = await ops.audit()
    assert {e.target for e in entries} == {f"dead-letter:{a.id}", f"dead-letter:{b.id}"}
    assert all(json.loads(e.before["body"])["data"]["account"] in {"a", "b"} for e in entries)


async def test_status_counts_outbox_dead_letters_and_groups(store: Store) -> None:
    """The status shows the dead letters and their groups, an empty outbox, and no lag without a broker."""
    await park_posting(store, "a", -1)
    await park_posting(store, "b", 1)
    status = await Operations(ledger, store).status()
    assert (status.dead_letters, status.dead_letter_groups, status.outbox_pending) == (2, 2, 0)
    assert status.consumer_lag is None
    assert status.outbox_oldest_age is None


async def test_the_audit_log_is_pruned_only_past_its_retention(store: Store) -> None:
    """Audit entries are pruned by age like the other framework records (and only by that)."""
    await park_posting(store, "a", -1)
    ops = Operations(ledger, store)
    await ops.discard([d.id or 0 for d in await store.dead_letters()], actor=ACTOR, reason="old")
    assert await store.prune(Retained.AUDIT, 0.0, 100) == 0
    assert await store.prune(Retained.AUDIT, 4e9, 100) == 1
    assert await ops.audit() == []


@pytest.fixture
async def saga_runtime(store_url: str) -> AsyncIterator[DomainRuntime]:
    """Lending prepared (not started) on the store, its partner nowhere: its sagas wait at their first step."""
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(lending, open_store(store_url, lending.name), broker)
        await runtime.prepare()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def test_retry_resends_the_awaited_command_with_its_command_id(saga_runtime: DomainRuntime) -> None:
    """A stuck saga's step is re-sent under the same command id, its request kept, the retry audited."""
    saga_id = await saga_runtime.execute(originate, StartOrigination(ref="r-1"))
    ops = Operations(lending, saga_runtime.store)
    (view,) = await ops.sagas(state="running", definition="loan-origination")
    assert view.id == saga_id
    assert view.step == 1
    await ops.retry_saga_step(saga_id, actor=ACTOR, reason="partner back")
    rows = await saga_runtime.store.outbox_batch(10)
    command_ids = [json.loads(r.message.body)["commandid"] for r in rows]
    assert len(rows) == 2
    assert command_ids[0] == command_ids[1] == f"{saga_id}-1-do"
    assert rows[0].message.message_id != rows[1].message.message_id
    assert await saga_runtime.store.load(REQUEST_KIND, command_ids[0]) is not None
    timeline = await ops.saga(saga_id)
    assert timeline.entries[-1].kind == "operator"
    assert timeline.outstanding is not None
    (entry,) = await ops.audit()
    assert (entry.action, entry.target) == ("saga.retry", f"saga:{saga_id}")


async def test_compensate_fails_the_current_step_and_abandon_ends_a_saga(saga_runtime: DomainRuntime) -> None:
    """Compensating at step one ends the saga compensated; abandoning ends another as abandoned; both audited."""
    first = await saga_runtime.execute(originate, StartOrigination(ref="c-1"))
    second = await saga_runtime.execute(originate, StartOrigination(ref="c-2"))
    ops = Operations(lending, saga_runtime.store)
    await ops.compensate_saga(first, actor=ACTOR, reason="customer withdrew")
    await ops.abandon_saga(second, actor=ACTOR, reason="duplicate application")
    assert (await ops.saga(first)).saga.status == "compensated"
    abandoned = await ops.saga(second)
    assert abandoned.saga.status == "abandoned"
    assert abandoned.outstanding is None
    assert await saga_runtime.store.load(REQUEST_KIND, f"{second}-1-do") is None
    with pytest.raises(InvalidInput, match="ended"):
        await ops.retry_saga_step(second, actor=ACTOR, reason="too late")
    with pytest.raises(NotFoundError):
        await ops.abandon_saga("nope", actor=ACTOR, reason="x")
    assert [e.action for e in await ops.audit()] == ["saga.abandon", "saga.compensate"]


async def test_the_audit_log_pages_back_from_the_newest_entry(store: Store) -> None:
    """Entries come newest first; ``before`` gives the page after the last id seen."""
    ops = Operations(ledger, store)
    for account in "abc":
        letter = await park_posting(store, account, -1)
        await ops.discard([letter.id or 0], actor=ACTOR, reason=f"drop {account}")
    first = await ops.audit(limit=2)
    assert [e.reason for e in first] == ["drop c", "drop b"]
    rest = await ops.audit(limit=2, before=first[-1].id)
    assert [e.reason for e in rest] == ["drop a"]


async def test_status_lists_replicas_and_deferred_updates_and_the_broker_lag(store_url: str) -> None:
    """A domain with a replica: its copies are counted; with a broker, the subscription's backlog is the lag."""
    async with open_store(store_url, credit.name) as store, MemoryBroker() as broker:
        # Nothing is fetched: the runtime is made only for its subscription.
        runtime = DomainRuntime(credit, store, broker, Settings(service_urls={"loan-api": "http://127.0.0.1:9"}))
        await broker.subscribe(runtime.subscription)
        status = await Operations(credit, store, broker).status()
    assert [(r.name, r.copies) for r in status.replicas] == [("loans", 0)]
    assert (status.pending_deferred, status.consumer_lag, status.files_in_progress) == (0, 0, [])


async def test_a_retried_step_runs_once_at_the_target_and_the_saga_completes(store_url: str) -> None:
    """Retry re-sends step one under its command id: the partner runs it once, answers both, the saga completes."""
    fast = Settings(fetch_wait=0.05, relay_poll_interval=0.05)
    async with MemoryBroker() as broker:
        issuer = DomainRuntime(lending, open_store(store_url, lending.name), broker, fast)
        target = DomainRuntime(partner, MemoryStore(domain="partner"), broker, fast)
        await issuer.prepare()
        saga_id = await issuer.execute(originate, StartOrigination(ref="twice"))
        ops = Operations(lending, issuer.store)
        await ops.retry_saga_step(saga_id, actor=ACTOR, reason="partner was down")
        await issuer.start()
        await target.start()
        try:

            async def ended() -> str | None:
                view = (await ops.saga(saga_id)).saga
                return view.status if view.status not in ("running", "compensating") else None

            assert await wait_until(ended, 10, what="the saga's end") == "completed"
            stored = await target.store.load("Journal", "twice")
        finally:
            await issuer.stop()
            await target.stop()
    assert stored is not None
    assert Journal.model_validate_json(stored.data).entries == ["reserve", "open", "disburse"]


async def test_a_refused_outbox_message_replayed_is_failed_while_refused_and_replayed_once_taken(store: Store) -> None:
    """A parked outbox message refused again is reported failed (parked anew); a broker that takes it empties both."""
    envelope = posted_envelope("big", 1)
    body = envelope.encode() + b" " * 500  # trailing blanks: still the same JSON, just too big for the first broker
    message = OutgoingMessage(envelope.id, "ledger.events", envelope.type, body, None)
    async with MemoryBroker(max_message_size=300) as small:
        await store.commit([ChangeSet(outbox=[message])])
        await DomainRuntime(ledger, store, small).relay.publish_pending()
        (letter,) = await store.dead_letters()
        ops = Operations(ledger, store, small)
        (outcome,) = await ops.replay([letter.id or 0], actor=ACTOR, reason="limit raised?")
        await ops.close()
    assert outcome.outcome == "failed"
    assert outcome.error is not None
    assert "refused again" in outcome.error
    (again,) = await store.dead_letters()
    assert again.message_id == envelope.id
    async with MemoryBroker(max_message_size=10_000) as large:
        ops = Operations(ledger, store, large)
        (outcome,) = await ops.replay([again.id or 0], actor=ACTOR, reason="limit raised")
        await ops.close()
    assert outcome.outcome == "replayed"
    assert await store.dead_letters() == []
    assert (await store.outbox_status()).pending == 0
    assert [e.after["outcome"] for e in await ops.audit()] == ["requeued", "failed", "requeued"]


async def test_traffic_counts_what_a_domain_sent_and_what_waits_in_its_outbox(saga_runtime: DomainRuntime) -> None:
    """Sagas started through a runtime the meter listens to: their commands are counted as sent on the arrow to
    the partner, and (nothing relays them here) wait in the outbox, by type."""
    meter = FlowMeter()
    saga_runtime.on_commit(meter.listener(lending.name))
    for ref in ("t-1", "t-2"):
        await saga_runtime.execute(originate, StartOrigination(ref=ref))
    ops = Operations(lending, saga_runtime.store, meter=meter)
    traffic = await ops.traffic()
    assert traffic.sent is not None
    assert sum(traffic.sent.values()) == 2
    assert {k: v.pending for k, v in traffic.outbox.items()} == traffic.sent
    assert all(v.oldest_age is not None and v.oldest_age >= 0 for v in traffic.outbox.values())
    landscape = build_landscape([collect(lending)])
    figures = {a.id: a for a in arrow_figures(landscape, {lending.name: traffic}, meter.window)}
    commands = figures["lending>partner:command-event"]
    assert (commands.sent, commands.outbox_pending, commands.dead_letters) == (2, 2, 0)
    assert figures["lending>silent:command-event"].sent == 0
    assert figures["partner>lending:command-event/reply"].sent is None  # the partner is not read here
    assert commands.rate_from == "process"


async def test_a_watching_operations_reads_the_rate_a_stopped_producers_runtime_wrote(store_url: str) -> None:
    """A runtime hosting lending starts sagas and stops; Operations over the same store in another facade, as
    ``interlink console`` builds it (no meter), reports the commands' rate on the arrow to the partner."""
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(lending, open_store(store_url, lending.name), broker)
        await runtime.start()
        try:
            for ref in ("w-1", "w-2", "w-3"):
                await runtime.execute(originate, StartOrigination(ref=ref))
        finally:
            await runtime.stop()
    async with open_store(store_url, lending.name) as store:
        assert await store.list_aggregates(FLOW_KIND, where={}, after=None, limit=10)  # one write at the stop
        traffic = await Operations(lending, store).traffic()
    assert traffic.sent_from == "store"
    assert traffic.sent is not None
    assert sum(traffic.sent.values()) == 3
    landscape = build_landscape([collect(lending)])
    figures = {a.id: a for a in arrow_figures(landscape, {lending.name: traffic}, 60.0)}
    commands = figures["lending>partner:command-event"]
    assert commands.sent == 3
    assert commands.rate is not None
    assert commands.rate > 0
    assert commands.rate_from == "store"
    assert 60 <= commands.window <= 120
    assert figures["lending>silent:command-event"].rate == 0  # counted, none sent: zero, not unknown


async def test_without_a_meter_or_flow_counts_the_rate_is_unknown(store: Store) -> None:
    """A store no runtime ever wrote flow counts to gives no rate (None), not a zero."""
    traffic = await Operations(ledger, store).traffic()
    assert (traffic.sent, traffic.sent_from) == (None, None)


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_the_flow_counts_are_read_through_the_primary_key_not_a_scan(store_url: str) -> None:
    """With 5,000 flow records (50 processes x 100 minutes) and other counters, the console's read of the last
    two minutes is a range of the (kind, id) primary key (in id order on SQLite) and finds 100 records."""
    async with open_store(store_url, lending.name) as store:
        writes = [
            AggregateWrite(FLOW_KIND, flow_id(29_410_000 + m, f"flow-{p:04d}"), 0, 1, '{"id":"x","minute":0}')
            for m in range(100)
            for p in range(50)
        ]
        writes += [AggregateWrite(f"~counters:c{n}", f"delivery-{n}", 0, 1, "{}") for n in range(500)]
        for first in range(0, len(writes), 1000):
            await store.commit([ChangeSet(writes=writes[first : first + 1000])])
        assert isinstance(store, SqlStore)
        statement, params = store.list_statement(FLOW_KIND, {}, after=f"{29_410_098:010d}", limit=1000)
        async with store._read() as conn:
            if store_url.startswith("sqlite"):
                await conn.execute(text("ANALYZE"))
                rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {statement.text}"), params)).all()
                detail = " | ".join(r[-1] for r in rows)
                assert "USING INDEX sqlite_autoindex_interlink_aggregates_1 (kind=? AND id>?)" in detail, detail
                assert "TEMP B-TREE" not in detail, detail
            else:
                await conn.execute(text(f"ANALYZE {store._aggregates_sql}"))
                explain = text(f"EXPLAIN (FORMAT JSON) {statement.text}")
                plan = (await conn.execute(explain, params)).scalar_one()[0]["Plan"]
                nodes = _plan_nodes(plan)
                (key,) = [n for n in nodes if n.get("Index Name") == "interlink_aggregates_pkey"]
                assert "id)::text >" in key["Index Cond"], plan  # the range is in the index condition
                # No scan of the table; the planner may sort the range it found (bitmap scan), never more.
                assert not any(n["Node Type"] == "Seq Scan" for n in nodes), plan
        page = await store.list_aggregates(FLOW_KIND, where={}, after=f"{29_410_098:010d}", limit=1000)
        assert len(page) == 100
