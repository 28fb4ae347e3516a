"""Only declared routes exist: a command without ``http=`` has no route unless its domain opts in to the
generic ones, and a command the domain runs itself (handlers, notifications, files, sagas) never has one.

Each bank command is probed through the six domains' multi-domain application, as ``interlink run --http``
builds it: an undeclared command is a 404 problem and absent from its domain's ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from examples.bank import DOMAINS
from fastapi import FastAPI
from pydantic import BaseModel

from interlink import Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.core.declarations import CommandSpec
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.api_exposure.exposure import internal_commands
from interlink.runtime import DomainRuntime
from interlink.runtime.http import api_for

PROBLEM_JSON = "application/problem+json"
#: The bank's commands that declare a route; every other one is internal or not offered over HTTP.
DECLARED = {
    ("customer", "register_customer"): ("POST", "/customers"),
    ("customer", "change_address"): ("PUT", "/customers/C1/address"),
    ("loan-request", "submit_loan_request"): ("POST", "/loan-requests"),
}
BANK_COMMANDS: list[tuple[Domain, CommandSpec]] = [(d, c) for d in DOMAINS for c in d.commands.values()]


@pytest.fixture(scope="module")
def bank_app() -> FastAPI:
    """The six bank domains in one application (their runtimes are never reached by these probes)."""
    runtimes = {d.name: DomainRuntime(d, MemoryStore(domain=d.name), MemoryBroker()) for d in DOMAINS}
    return api_for(runtimes, ApiSettings())


@pytest.fixture
async def client(bank_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the bank application."""
    transport = httpx.ASGITransport(app=bank_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bank") as client:
        yield client


def test_every_bank_command_is_classified() -> None:
    """The table of declared bank commands names every command with ``http=`` and no other."""
    assert {(d.name, c.name) for d, c in BANK_COMMANDS if c.http} == set(DECLARED)


@pytest.mark.parametrize(("domain", "command"), BANK_COMMANDS, ids=[f"{d.name}:{c.name}" for d, c in BANK_COMMANDS])
async def test_bank_command_is_served_only_when_declared(
    client: httpx.AsyncClient, domain: Domain, command: CommandSpec
) -> None:
    """A declared command answers at its route and is in /openapi.json; an undeclared one is a 404 problem
    at the generic route and absent from the document."""
    document = (await client.get(f"/{domain.name}/openapi.json")).json()
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    generic = await client.post(f"/{domain.name}/commands/{command.name.replace('_', '-')}", json={})
    assert generic.status_code == 404, generic.text
    assert generic.headers["content-type"] == PROBLEM_JSON
    assert not any(path.startswith("/commands/") for path in document["paths"])
    if (domain.name, command.name) in DECLARED:
        method, path = DECLARED[domain.name, command.name]
        assert command.name in operations
        # An empty body reaches the route, which refuses it: the route exists.
        answered = await client.request(method, f"/{domain.name}{path}", json={})
        assert answered.status_code == 422, answered.text
    else:
        assert command.name not in operations


async def test_a_ghost_borrower_cannot_be_created_from_outside(client: httpx.AsyncClient) -> None:
    """The issue's attack: keep-borrower and origination-ended are not reachable by any method."""
    for path in ("/loan-request/commands/keep-borrower", "/loan-request/commands/origination-ended"):
        for method in ("POST", "PUT", "GET"):
            response = await client.request(method, path, json={"customer_id": "GHOST1", "version": 1})
            assert response.status_code == 404, (method, path, response.text)


# -- the generic routes, by opt-in ------------------------------------------------------------------------

shop = Domain("shop", generic_routes=True)


@shop.event
class Tick(PublicEvent):
    """Something to handle."""

    n: int


class Note(BaseModel):
    """Input of the shop's commands."""

    text: str


@shop.command
async def add_note(ctx: Context, data: Note) -> str:
    """Served at the generic route: the domain opted in and nothing runs it internally."""
    return data.text


@shop.command
async def count_tick(ctx: Context, data: Note) -> str:
    """Run by the Tick handler below: internal, never served."""
    return data.text


@shop.on(Tick)
async def on_tick(ctx: Context, event: Tick) -> None:
    """Runs count_tick through a helper, which the route rule follows."""
    await _count(ctx, event.n)


async def _count(ctx: Context, n: int) -> None:
    await ctx.execute(count_tick, Note(text=str(n)))


@shop.query
async def shop_status(ctx: Context) -> str:
    """A query without http=: served at the generic route as the domain opted in."""
    return "open"


def _paths(app: FastAPI) -> dict[str, Any]:
    paths: dict[str, Any] = app.openapi()["paths"]
    return paths


def test_opt_in_serves_the_generic_routes_except_internal_commands() -> None:
    """With generic_routes, add_note and shop_status get generic routes; count_tick (run by a handler) none."""
    assert internal_commands(shop) == {"count_tick"}
    paths = _paths(build_api(shop))
    assert "/commands/add-note" in paths
    assert "/queries/shop-status" in paths
    assert "/commands/count-tick" not in paths


def test_without_opt_in_nothing_undeclared_is_served() -> None:
    """The same commands on a domain that did not opt in have no route at all."""
    closed = Domain("closed")
    closed.command(add_note)
    closed.query(shop_status)
    assert not any(p.startswith(("/commands/", "/queries/")) for p in _paths(build_api(closed)))
