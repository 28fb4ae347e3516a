"""The HTTP access log (``interlink run --http --access-log``): one line per request with method, path,
status and trace id, never the body nor the query string; nothing without the option."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.observability import configure_logging, tracing
from interlink.observability.messaging import traceparent_in
from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import DomainRuntime
from interlink.runtime.http import api_for
from tests.support.refusal_app import emitter

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECRET = "Jane Doe, IBAN DE89370400440532013000"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """JSON log lines written to a buffer; the root logger as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("info", "json", buffer)
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@asynccontextmanager
async def _client(access_log: bool) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryStore]]:
    async with MemoryStore(domain="emitter") as store, MemoryBroker() as broker:
        host = DomainRuntime(emitter, store, broker)
        app = api_for({"emitter": host}, ApiSettings(access_log=access_log))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client, store


def _access(out: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, out.getvalue().splitlines()) if line["logger"] == "interlink.access"]


async def test_a_request_is_one_line_with_its_trace_and_without_body_or_query(out: io.StringIO) -> None:
    """A POST with a traceparent and a body holding personal data: one line with method, path, status,
    duration and the caller's trace id; neither the body nor the query string is in it."""
    async with _client(access_log=True) as (client, _):
        sent = await client.post(
            "/notes?who=" + SECRET, json={"n": 1, "customer": SECRET}, headers={"traceparent": CALLER}
        )
    assert sent.status_code == 200, sent.text
    (line,) = _access(out)
    assert SECRET not in json.dumps(line)
    assert (line["http_method"], line["url_path"], line["http_status"]) == ("POST", "/notes", 200)
    assert line["response_bytes"] == len(sent.content)
    assert line["duration_ms"] >= 0
    assert line["trace_id"] == CALLER.split("-")[1]
    assert line["message"].startswith("POST /notes 200 ")


async def test_without_a_traceparent_the_line_shares_its_trace_id_with_the_messages_of_the_request(
    out: io.StringIO,
) -> None:
    """No traceparent sent (tracing off): the line's trace id is the one the emitted message carries."""
    async with _client(access_log=True) as (client, store):
        assert (await client.post("/notes", json={"n": 2})).status_code == 200
        (row,) = await store.outbox_batch(10)
    (line,) = _access(out)
    carried = traceparent_in(row.message.body)
    assert carried is not None
    assert line["trace_id"] == carried.split("-")[1]


async def test_with_tracing_on_the_line_carries_the_span_it_was_written_in(out: io.StringIO) -> None:
    """Tracing on: the line's trace and span ids are those of the span serving the request (here one the
    test starts, as FastAPI's server span is in a process)."""
    provider = TracerProvider()
    tracing.enable(provider)
    try:
        tracer = tracing.tracer()
        assert tracer is not None
        async with _client(access_log=True) as (client, _):
            with tracer.start_as_current_span("server") as server:
                assert (await client.get("/healthz")).status_code == 200
    finally:
        tracing.disable()
        provider.shutdown()
    (line,) = _access(out)
    context = server.get_span_context()
    assert (line["trace_id"], line["span_id"]) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")


async def test_without_the_option_no_access_line_is_written(out: io.StringIO) -> None:
    """The access log is off by default."""
    async with _client(access_log=False) as (client, _):
        assert (await client.post("/notes", json={"n": 3})).status_code == 200
    assert _access(out) == []
