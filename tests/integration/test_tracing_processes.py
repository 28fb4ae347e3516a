"""One loan request is one trace across three `interlink run` processes exporting OTLP/HTTP protobuf to a
receiver the test runs: loan-request (with customer), credit-offer and customer-communication, on the
embedded default and on PostgreSQL with RabbitMQ."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from interlink.ports.ids import random_hex
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
#: The three processes: the modules each runs.
PROCESSES = {
    "customer,loan-request": ["examples.bank.customer", "examples.bank.loan_request"],
    "credit-offer": ["examples.bank.credit_offer"],
    "customer-communication": ["examples.bank.customer_communication"],
}
KIND = {
    SpanProto.SPAN_KIND_INTERNAL: "INTERNAL",
    SpanProto.SPAN_KIND_SERVER: "SERVER",
    SpanProto.SPAN_KIND_CLIENT: "CLIENT",
    SpanProto.SPAN_KIND_PRODUCER: "PRODUCER",
    SpanProto.SPAN_KIND_CONSUMER: "CONSUMER",
}


@dataclass
class Received:
    """One exported span as the receiver decoded it."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent: str
    links: list[str]
    attributes: dict[str, Any]


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


class Receiver:
    """An OTLP/HTTP trace receiver on a free loopback port: every span it was sent, decoded."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        lock, spans = threading.Lock(), self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    for resource in request.resource_spans:
                        resource_attributes = {a.key: _value(a.value) for a in resource.resource.attributes}
                        for scope in resource.scope_spans:
                            spans.extend(_decoded(resource_attributes["service.name"], s) for s in scope.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def of_trace(self, trace_id: str) -> list[Received]:
        """The spans received so far in one trace."""
        return [s for s in list(self.spans) if s.trace_id == trace_id]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _decoded(service: str, span: Any) -> Received:
    return Received(
        service=service,
        name=span.name,
        kind=KIND[span.kind],
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent=span.parent_span_id.hex(),
        links=[link.span_id.hex() for link in span.links],
        attributes={a.key: _value(a.value) for a in span.attributes},
    )


def _ancestors(span: Received, by_id: dict[str, Received]) -> list[str]:
    found = []
    while span.parent in by_id:
        found.append(span.parent)
        span = by_id[span.parent]
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The OTLP receiver, closed afterwards."""
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def processes(receiver: Receiver, backends: Backends, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The three processes on the test's store and broker, exporting to ``receiver``; their API URLs. Each
    is stopped with SIGTERM afterwards and must have exited 0."""
    urls = {name: f"http://127.0.0.1:{_free_port()}" for name in PROCESSES}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INTERLINK_"))},
        "PYTHONPATH": str(ROOT),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    running: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, modules in PROCESSES.items():
            running[name] = subprocess.Popen(
                [INTERLINK, "run", *modules, "--store", backends.store, "--broker", backends.broker,
                 "--http", urls[name].removeprefix("http://"),
                 "--log-level", "warning", "--log-format", "json"],
                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        yield urls
    finally:
        ended = []
        for name, proc in running.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            ended.append((name, proc.wait(timeout=60), proc.communicate()[0]))
    failed = [(name, output) for name, code, output in ended if code != 0]
    assert not failed, failed


async def _submit_loan(http: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """Register a customer, then submit a loan request for them (once the loan-request domain knows them):
    the trace id and the caller's span id of the submission that was accepted."""
    customer = {"id": "c-1", "name": "Ada", "email": "ada@example.com", "phone": "+3161234567"}
    registered = await http.post(f"{url}/customer/customers", json=customer)
    assert registered.status_code == 201, registered.text
    loan = {"id": "l-1", "customer_id": "c-1", "amount": 5000, "term_months": 24, "purpose": "car"}

    async def accepted() -> tuple[str, str] | None:
        trace_id, span_id = random_hex(16), random_hex(8)
        sent = await http.post(
            f"{url}/loan-request/loan-requests", json=loan, headers={"traceparent": f"00-{trace_id}-{span_id}-01"}
        )
        return (trace_id, span_id) if sent.status_code == 201 else None

    return await wait_until(accepted, timeout=60, interval=0.2, what="the loan request to be accepted")


@pytest.mark.parametrize(
    ("store_url", "broker_url", "system"),
    [("sqlite", "embedded", "sqlite"), ("postgres", "rabbitmq", "rabbitmq")],
    indirect=["store_url", "broker_url"],
)
async def test_a_loan_request_is_one_trace_across_three_processes(
    processes: dict[str, str], receiver: Receiver, system: str
) -> None:
    """API -> saga -> command events to credit-offer -> replies -> SMS to customer-communication ->
    confirmation: one trace id on spans of all three processes; each process span a child of (and linked
    to) the create span of its message in another process, with the messaging conventions' attributes."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:

        async def healthy() -> bool | None:
            try:
                answers = [await http.get(f"{url}/healthz") for url in processes.values()]
            except httpx.TransportError:
                return None
            return True if all(a.status_code == 200 for a in answers) else None

        await wait_until(healthy, timeout=60, interval=0.1, what="the three processes to answer /healthz")
        trace_id, caller = await _submit_loan(http, processes["customer,loan-request"])

    def complete() -> list[Received] | None:
        spans = receiver.of_trace(trace_id)
        sms = [s for s in spans if s.name == "handle customer-communication.SendSms"]
        ended = [s for s in spans if s.name == "saga loan-origination end"]
        replies = [s for s in spans if s.name.startswith("reply ") and "SendSms" in s.name]
        # Each process exports its spans in its own batches: a message's create span, recorded in the process
        # that sent it, may arrive after the spans of its processing in another process.
        ids = {s.span_id for s in spans}
        exported = all(s.parent in ids for s in spans if s.kind == "CONSUMER")
        return spans if len(sms) == 2 and ended and len(replies) == 2 and exported else None

    spans = await wait_until(complete, timeout=60, interval=0.2, what="the loan request's whole trace")
    assert {s.service for s in spans} == set(PROCESSES)
    by_id = {s.span_id: s for s in spans}

    # The server span is FastAPI's own (HTTP conventions), a child of the caller's traceparent.
    (server,) = [s for s in spans if s.kind == "SERVER"]
    assert server.service == "customer,loan-request"
    assert server.name == "POST /loan-request/loan-requests"
    assert server.attributes["http.route"] == "/loan-request/loan-requests"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 201
    assert server.parent == caller
    (command,) = [s for s in spans if s.name == "command submit_loan_request"]
    assert server.span_id in _ancestors(command, by_id)

    creates = [s for s in spans if s.kind == "PRODUCER"]
    processed = [s for s in spans if s.kind == "CONSUMER"]
    for span in creates:
        assert span.name == f"create {span.attributes['messaging.destination.name']}"
        assert span.attributes["messaging.operation.type"] == "create"
        assert span.attributes["messaging.operation.name"] == "create"
        assert span.attributes["messaging.system"] == system
        assert span.attributes["messaging.message.id"]
        assert span.parent in by_id  # created inside a command, a handler or a saga's move
    for span in processed:
        creator = by_id[span.parent]  # the create span of this very message, in the process that sent it
        assert creator.kind == "PRODUCER"
        assert creator.attributes["messaging.message.id"] == span.attributes["messaging.message.id"]
        assert span.links == [creator.span_id]
        assert span.name == f"process {creator.attributes['messaging.destination.name']}"
        assert span.attributes["messaging.operation.type"] == "process"
        assert span.attributes["messaging.system"] == system
        assert span.attributes["messaging.consumer.group.name"]
    crossings = {(by_id[s.parent].service, s.service, s.attributes["messaging.destination.name"]) for s in processed}
    assert ("customer,loan-request", "credit-offer", "credit-offer.commands") in crossings
    assert ("credit-offer", "customer,loan-request", "loan-request.replies") in crossings
    assert ("customer,loan-request", "customer-communication", "customer-communication.commands") in crossings
    assert ("customer-communication", "customer,loan-request", "loan-request.replies") in crossings

    # The relay's send spans and the consumers' receive and ack spans live in traces of their own (one per
    # batch), linked to the creation contexts of the messages they carried.
    created = {s.span_id for s in creates}
    sends = [s for s in receiver.spans if s.name.startswith("publish") and created & set(s.links)]
    assert {s.service for s in sends} == set(PROCESSES)
    for send in sends:
        assert send.kind == "CLIENT"
        assert send.attributes["messaging.operation.type"] == "send"
    acks = [s for s in receiver.spans if s.name.startswith("ack") and created & set(s.links)]
    assert {s.service for s in acks} == set(PROCESSES)
    assert all(s.attributes["messaging.operation.type"] == "settle" for s in acks)

    # The loan-request domain fetched the customer back (state change notification) through the External
    # Service client: a CLIENT span whose context the customer's FastAPI server span continues.
    (fetch, *_) = [s for s in receiver.spans if s.kind == "CLIENT" and s.attributes.get("peer.service") == "customer"]
    assert fetch.name == "GET"
    assert fetch.attributes["http.response.status_code"] == 200
    assert fetch.attributes["url.full"].startswith(processes["customer,loan-request"])
    served = [s for s in receiver.spans if s.kind == "SERVER" and s.parent == fetch.span_id]
    assert [s.name for s in served] == ["GET /customer/customers/{id}"]
