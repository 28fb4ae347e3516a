"""Spans on the memory backends, read from the SDK's InMemorySpanExporter: names, kinds, the messaging
semantic-convention attributes per operation, parents and links; and nothing recorded while tracing is off."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from interlink import Aggregate, Context, Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.committer import Committer
from interlink.observability import messaging, tracing
from interlink.observability.logs import configure_logging
from interlink.patterns.command_events import load_saga
from interlink.patterns.inbound_file import FileIntake
from interlink.ports.store import ChangeSet
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.waiting import wait_until
from tests.faults.apps.inbound_app import ledger_domain, write_entries
from tests.support.command_events_app import StartOrigination, lending, originate, partner

SETTINGS = Settings(fetch_wait=0.05, relay_poll_interval=0.05)
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

notes = Domain("notes")


@notes.aggregate
class Note(Aggregate):
    """A note."""

    text: str


class WriteNote(Aggregate):
    """Input of write_note."""

    text: str


@notes.command
async def write_note(ctx: Context, data: WriteNote) -> Note:
    """Save a note; it logs one line."""
    logging.getLogger("tests.notes").info("writing note %s", data.id)
    note = Note(id=data.id, text=data.text)
    await ctx.save(note)
    return note


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, every span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()
    provider.shutdown()


def _hex(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def _named(found: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in found if s.name.startswith(prefix)]


async def _saga(ref: str, mode: str = "ok", caller: str = CALLER) -> None:
    async with MemoryBroker() as broker:
        issuer = DomainRuntime(lending, MemoryStore(domain="lending"), broker, SETTINGS)
        target = DomainRuntime(partner, MemoryStore(domain="partner"), broker, SETTINGS)
        await issuer.start()
        await target.start()
        try:
            saga_id = await issuer.execute(originate, StartOrigination(ref=ref, mode=mode), traceparent=caller)

            async def ended() -> bool | None:
                state = await load_saga(issuer.store, saga_id)
                return True if state and state.status.ended else None

            await wait_until(ended, 10, what="the saga's end")
        finally:
            await issuer.stop()
            await target.stop()


async def test_a_saga_is_one_trace_of_create_send_receive_process_and_settle_spans(
    spans: InMemorySpanExporter,
) -> None:
    """A compensated saga: every create and process span is in the caller's trace; each process span is a
    child of, and linked to, the create span of its message; send, receive and ack carry the conventions'
    attributes and link to the creation contexts."""
    await _saga("trace-1", mode="fail")
    found = spans.get_finished_spans()
    trace_id = CALLER.split("-")[1]
    creates, processes = _named(found, "create "), _named(found, "process ")
    assert creates
    assert processes
    by_id = {_hex(s)[1]: s for s in creates}
    for span in creates:
        assert span.kind is SpanKind.PRODUCER
        assert _hex(span)[0] == trace_id
        attributes = dict(span.attributes or {})
        assert attributes["messaging.operation.type"] == "create"
        assert attributes["messaging.system"] == "memory"
        assert span.name == f"create {attributes['messaging.destination.name']}"
        assert attributes["messaging.message.id"]
    for span in processes:
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.CONSUMER
        assert attributes["messaging.operation.type"] == "process"
        assert attributes["messaging.consumer.group.name"]
        assert span.parent is not None
        creator = by_id[format(span.parent.span_id, "016x")]  # the create span of the very message
        assert dict(creator.attributes or {})["messaging.message.id"] == attributes["messaging.message.id"]
        assert span.name == f"process {dict(creator.attributes or {})['messaging.destination.name']}"
        assert [link.context.span_id for link in span.links] == [span.parent.span_id]
        assert _hex(span)[0] == trace_id
    destinations = {dict(s.attributes or {})["messaging.destination.name"] for s in processes}
    assert destinations == {"partner.commands", "lending.replies"}
    for prefix, operation_type in (("publish", "send"), ("receive", "receive"), ("ack", "settle")):
        batch = _named(found, prefix)
        assert batch, prefix
        for span in batch:
            attributes = dict(span.attributes or {})
            assert span.kind is SpanKind.CLIENT
            assert attributes["messaging.operation.type"] == operation_type
            assert ("messaging.message.id" in attributes) != ("messaging.batch.message_count" in attributes)
            assert {link.context.span_id for link in span.links} <= {s.context.span_id for s in creates if s.context}
            assert span.links
    sagas = [s.name for s in _named(found, "saga ")]
    assert sagas[0] == "saga loan-origination begin"
    assert "saga loan-origination step" in sagas
    assert "saga loan-origination compensate" in sagas
    handled = _named(found, "handle ")
    assert {dict(s.attributes or {})["interlink.command.type"] for s in handled} >= {"partner.Disburse"}
    assert _named(found, "reply ")
    assert all(s.kind is SpanKind.INTERNAL for s in _named(found, "commit"))


async def test_json_log_lines_carry_the_trace_and_span_of_the_span_they_were_written_in(
    spans: InMemorySpanExporter,
) -> None:
    """A line logged by a command: its trace_id and span_id are those of the command's span."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("info", "json", out)
    try:
        host = DomainRuntime(notes, MemoryStore(domain="notes"), MemoryBroker())
        await host.store.connect()
        await host.execute(write_note, {"id": "n2", "text": "logged"}, traceparent=CALLER)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    (line,) = [json.loads(x) for x in out.getvalue().splitlines() if "writing note" in x]
    (command,) = _named(spans.get_finished_spans(), "command write_note")
    assert (line["trace_id"], line["span_id"]) == _hex(command)
    assert line["trace_id"] == CALLER.split("-")[1]


async def test_with_tracing_off_no_span_is_made_and_the_trace_id_still_travels() -> None:
    """No provider: every hook is the one shared no-op, and a message's traceparent keeps the caller's trace
    id with a span id of its own."""
    assert not tracing.enabled()
    assert tracing.command("notes", "write_note", CALLER) is tracing.OFF
    assert tracing.committing("notes", [None]) is tracing.OFF
    made = messaging.message_created(CALLER, destination="d", message_id="m", message_type="t", conversation_id=None)
    _, trace_id, span_id, flags = made.split("-")
    assert (trace_id, flags) == (CALLER.split("-")[1], "01")
    assert span_id != CALLER.split("-")[2]


async def test_an_inbound_file_is_a_span_with_one_child_span_per_batch(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """50 records in batches of 20: one `inbound file entries` span, three `inbound batch entries` spans in it
    with their record counts and checkpoints, each batch's commit inside its batch."""
    async with MemoryStore(domain="ledger") as store:
        intake = FileIntake(
            DomainRuntime(ledger_domain(tmp_path, settle_seconds=0, batch_size=20), store, MemoryBroker())
        )
        write_entries(tmp_path / "entries-1.csv", 50)
        (report,) = await intake.scan(intake.workers[0])
    assert (report.outcome, report.accepted) == ("archived", 50)
    found = spans.get_finished_spans()
    (file,) = _named(found, "inbound file entries")
    assert dict(file.attributes or {})["interlink.file.name"] == "entries-1.csv"
    batches = _named(found, "inbound batch entries")
    assert [(dict(b.attributes or {})["interlink.file.records"], dict(b.attributes or {})["interlink.file.checkpoint"])
            for b in batches] == [(20, 0), (20, 20), (10, 40)]  # fmt: skip
    assert file.context is not None
    assert all(b.parent is not None and b.parent.span_id == file.context.span_id for b in batches)
    batch_ids = {b.context.span_id for b in batches if b.context is not None}
    assert {c.parent.span_id for c in _named(found, "commit") if c.parent is not None} >= batch_ids


async def test_a_sampled_out_action_starts_no_span_and_its_messages_stay_in_its_trace(
    spans: InMemorySpanExporter,
) -> None:
    """A caller whose trace is not sampled (flags 00), under the default parent-based sampler: no span of the
    saga, its commands or messages is started; the batches' spans still link to the messages' creation
    contexts, which keep the caller's trace id, not sampled."""
    unsampled = CALLER[:-2] + "00"
    await _saga("trace-3", caller=unsampled)
    found = spans.get_finished_spans()
    assert not [s for s in found if s.name.split(" ")[0] in ("create", "process", "command", "saga", "handle", "reply")]
    links = [link.context for s in _named(found, "publish") for link in s.links]
    assert links
    assert {format(c.trace_id, "032x") for c in links} == {CALLER.split("-")[1]}
    assert not any(c.trace_flags.sampled for c in links)


async def test_a_group_commit_is_one_span_linked_to_the_span_of_each_unit_of_work_in_it(
    spans: InMemorySpanExporter,
) -> None:
    """Two commands whose units of work commit in one transaction: one `commit` span, under no parent, linked
    to both command spans; a command committing alone: its `commit` span is its child."""
    tracer = tracing.tracer()
    assert tracer is not None
    async with MemoryStore(domain="notes") as store:
        committer = Committer(store)

        async def command(name: str) -> None:
            with tracer.start_as_current_span(name):
                await committer.commit(ChangeSet())

        await asyncio.gather(command("first"), command("second"))
        await command("alone")
    found = spans.get_finished_spans()
    ids = {s.name: s.context.span_id for s in found if s.context is not None}
    group, single = _named(found, "commit")
    assert group.parent is None
    assert {link.context.span_id for link in group.links} == {ids["first"], ids["second"]}
    assert dict(group.attributes or {})["interlink.commit.change_sets"] == 2
    assert single.parent is not None
    assert single.parent.span_id == ids["alone"]
    assert not single.links


async def test_a_span_whose_work_raised_records_the_exception_and_has_status_error(
    spans: InMemorySpanExporter,
) -> None:
    """An error leaving a hook's span: recorded as an exception event, status ERROR, and the span ended."""
    with pytest.raises(ValueError, match="refused"), tracing.command("notes", "write_note", CALLER):
        raise ValueError("refused")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert dict(span.events[0].attributes or {})["exception.type"] == "ValueError"
