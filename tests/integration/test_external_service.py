"""The External Service adapter against a real HTTP server: a FastAPI app served by uvicorn on 127.0.0.1.

The server runs in this event loop (uvicorn.Server as a task, on a port the OS picks), so every test
gets a fresh one and nothing outlives it. The domain reads it the way production code does: a query
calls ``ctx.fetch``, which goes through the runtime's unit of work into HttpExternalServices.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from interlink import Context, Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.http import HttpExternalServices
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import ExternalServiceError
from interlink.runtime.domain_runtime import DomainRuntime

PARENT_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class LocalCustomer(BaseModel):
    """The loan domain's own view of a customer: only what it needs, in its own words."""

    id: str
    name: str
    blocked: bool


def to_local_customer(payload: dict[str, Any]) -> LocalCustomer:
    """The anti-corruption layer: the customer domain's payload in the loan domain's language."""
    person = payload["person"]
    return LocalCustomer(
        id=payload["customerId"], name=f"{person['given']} {person['family']}", blocked=payload["status"] == "BLOCKED"
    )


loans = Domain("loan-origination")
customers = loans.external_service(
    "customer", resource="/customers/{id}", translate=to_local_customer, timeout=0.5, retries=1
)


@loans.query
async def customer_of_loan(ctx: Context, customer_id: str) -> LocalCustomer:
    """Read the customer behind a loan from the customer domain."""
    return await ctx.fetch(customers, id=customer_id)


class CustomerApi:
    """The customer domain's API, with test knobs: ids starting ``flaky`` answer 503 once, ``slow`` hang."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.release = asyncio.Event()  # set at teardown, so hanging requests finish and uvicorn can stop
        self.attempts: dict[str, int] = {}
        self.app = FastAPI()
        self.app.get("/customers/{id}")(self.customer)
        self.server: uvicorn.Server | None = None
        self.url = ""

    async def customer(self, id: str, request: Request) -> Any:
        self.seen.append(request)
        self.attempts[id] = self.attempts.get(id, 0) + 1
        if id.startswith("flaky") and self.attempts[id] == 1:
            return JSONResponse({"title": "Starting up"}, status_code=503, media_type="application/problem+json")
        if id.startswith("slow"):
            await asyncio.wait_for(self.release.wait(), timeout=30)
        if id.startswith("unknown"):
            problem = {"title": "Not Found", "detail": f"no customer {id}"}
            return JSONResponse(problem, status_code=404, media_type="application/problem+json")
        return {"customerId": id, "person": {"given": "Ada", "family": "Lovelace"}, "status": "ACTIVE"}

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, lifespan="off", ws="none", log_level="warning")
        self.server = uvicorn.Server(config)
        self._task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(10):
            while not self.server.started:
                if self._task.done():
                    self._task.result()  # raises why uvicorn could not start
                await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self._task, timeout=10)
            self.server = None


@pytest.fixture
async def api() -> AsyncIterator[CustomerApi]:
    """A running customer API on a free port of 127.0.0.1, stopped cleanly after the test."""
    api = CustomerApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def external(api: CustomerApi) -> AsyncIterator[HttpExternalServices]:
    """The adapter configured (as the runtime would be) with the API's address."""
    async with HttpExternalServices([customers], base_urls={"customer": api.url}, environ={}) as external:
        yield external


async def test_query_fetches_and_translates_with_correlation_and_trace(
    api: CustomerApi, external: HttpExternalServices
) -> None:
    """A query's ctx.fetch returns the local model; the server saw our correlation id and trace."""
    async with MemoryStore("memory://", domain=loans.name) as store, MemoryBroker() as broker:
        runtime = DomainRuntime(loans, store, broker, external=external)
        found = await runtime.query(
            customer_of_loan, correlation_id="loan-flow-1", traceparent=PARENT_TRACE, customer_id="42"
        )
    assert found == LocalCustomer(id="42", name="Ada Lovelace", blocked=False)
    (request,) = api.seen
    assert request.headers["x-correlation-id"] == "loan-flow-1"
    assert request.headers["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert request.headers["user-agent"] == "interlink"


async def test_unavailable_once_is_retried(api: CustomerApi, external: HttpExternalServices) -> None:
    """A 503 and then a 200: the caller gets the body, the server saw two requests."""
    body = await external.get(customers, "/customers/flaky-1", {})
    assert to_local_customer(body).id == "flaky-1"
    assert api.attempts["flaky-1"] == 2


async def test_slow_answer_times_out(api: CustomerApi, external: HttpExternalServices) -> None:
    """An answer slower than the declared timeout gives status None and a reason naming the timeout."""
    with pytest.raises(ExternalServiceError) as caught:
        await external.get(customers, "/customers/slow-1", {})
    assert caught.value.status is None
    assert "timeout" in caught.value.reason
    assert caught.value.retryable
    assert api.attempts["slow-1"] == 1 + customers.retries


async def test_unknown_customer_is_gone(api: CustomerApi, external: HttpExternalServices) -> None:
    """A 404 problem is gone, not retried, and carries the problem's title and detail."""
    with pytest.raises(ExternalServiceError) as caught:
        await external.get(customers, "/customers/unknown-7", {})
    assert (caught.value.status, caught.value.gone, caught.value.retryable) == (404, True, False)
    assert caught.value.reason == "Not Found: no customer unknown-7"
    assert caught.value.url == f"{api.url}/customers/unknown-7"
    assert api.attempts["unknown-7"] == 1


async def test_stopped_server_refuses_then_circuit_opens(api: CustomerApi) -> None:
    """With the server stopped, calls fail with 'connection refused' until the circuit opens and fails fast."""
    await api.stop()
    async with HttpExternalServices([customers], base_urls={"customer": api.url}, environ={}) as external:
        # Two attempts per call (retries=1): the fifth failed attempt, in the third call, opens the circuit.
        for _ in range(3):
            with pytest.raises(ExternalServiceError) as caught:
                await external.get(customers, "/customers/42", {})
            assert (caught.value.status, caught.value.reason) == (None, "connection refused")
        assert external.circuit("customer").state == "open"
        with pytest.raises(ExternalServiceError, match="circuit open"):
            await external.get(customers, "/customers/42", {})
