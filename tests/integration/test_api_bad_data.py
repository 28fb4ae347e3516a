"""Data the database cannot hold is refused at the edge, and infrastructure failures tell clients nothing
of the infrastructure.

The bank's customer domain is served over real HTTP on each store (PostgreSQL, whose jsonb cannot hold
U+0000, and SQLite), as ``interlink run --http`` serves it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.bank.customer import customer, register_customer
from pydantic import BaseModel

from interlink import Context, Domain
from interlink.exceptions import ExternalServiceError, StoreUnavailable
from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.http import api_for
from tests.support.uvicorn_server import LiveServer, serve_domain

PROBLEM_JSON = "application/problem+json"
ADDRESS = {"street": "Main 1", "postcode": "1234", "city": "Town"}


@pytest.fixture
async def bank(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, DomainRuntime]]:
    """The customer API on this store, and the domain behind it."""
    settings = Settings(store_url=store_url, broker_url=f"sqlite:///{tmp_path}/broker.db", relay_poll_interval=0.2)
    async with Runtime([customer], settings) as runtime:
        app = api_for({"customer": runtime["customer"]}, ApiSettings())
        async with LiveServer(app) as server, httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
            yield client, runtime["customer"]


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    return body


def _fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


async def test_nul_in_a_body_is_a_422_naming_the_field_and_lists_keep_working(
    bank: tuple[httpx.AsyncClient, DomainRuntime],
) -> None:
    """``"name": "a\\u0000b"`` (and a nested one) is a 422 naming the field; nothing is stored; lists answer."""
    client, _ = bank
    refused = await client.post(
        "/customers",
        json={"id": "C1", "name": "a\u0000b", "email": "a@b.example", "address": {**ADDRESS, "city": "x\u0000"}},
    )
    assert _fields(_problem(refused, 422)) == {"body.name", "body.address.city"}
    assert (await client.get("/customers/C1")).status_code == 404
    listed = await client.get("/customers", params={"channel": "api"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []


async def test_a_stored_nul_does_not_break_filtered_lists(bank: tuple[httpx.AsyncClient, DomainRuntime]) -> None:
    """A name with U+0000 that reached the store another way (a file, older data) leaves lists answering; JSONB
    cannot hold U+0000, so PostgreSQL keeps U+FFFD in its place (docs/queries.md), SQLite the name as given."""
    client, runtime = bank
    await runtime.execute(register_customer, {"id": "C1", "name": "a\u0000b", "email": "a@b.example"})
    await runtime.execute(register_customer, {"id": "C2", "name": "plain", "email": "c@d.example"})
    listed = await client.get("/customers", params={"channel": "api"})
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["items"]] == ["C1", "C2"]
    stored = "a\ufffdb" if type(runtime.store).__name__ == "PostgresStore" else "a\u0000b"
    assert (await client.get("/customers/C1")).json()["name"] == stored


@pytest.mark.parametrize("path", ["/customers/a%00b", "/customers/a%0Ab", "/customers/%7F", "/nowhere/%01"])
async def test_a_path_with_control_characters_is_a_404_problem(
    bank: tuple[httpx.AsyncClient, DomainRuntime], path: str
) -> None:
    """No id holds a control character: such a path is a 404 problem, never a 5xx."""
    client, _ = bank
    body = _problem(await client.get(path), 404)
    assert "control characters" in body["detail"]


async def test_nul_in_a_query_parameter_is_a_422_naming_it(tmp_path: Path) -> None:
    """A filter value with U+0000 is a 422 naming ``query.<name>``."""
    from tests.support.api_app import accounts

    async with (
        serve_domain(accounts, tmp_path) as (server, _),
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        body = _problem(await client.get("/accounts", params={"holder": "a\u0000"}), 422)
        assert _fields(body) == {"query.holder"}


# -- what a 5xx tells --------------------------------------------------------------------------------------

broken = Domain("broken")
URL = "postgresql://bank:s3cret@db.internal:5432/core"


class Nothing(BaseModel):
    """Input of the failing commands."""

    what: str


@broken.query(http="GET /store-down")
async def store_down(ctx: Context) -> str:
    """Fails as a store adapter does when its database is gone: the message names URL and schema."""
    raise StoreUnavailable(f"PostgreSQL store {URL} (interlink_broken): ConnectionRefusedError: [Errno 111]")


@broken.query(http="GET /source-down")
async def source_down(ctx: Context) -> str:
    """Fails as an External Service does: the message names the other service's address."""
    raise ExternalServiceError("customers", "http://10.1.2.3:8000/customers/C1", "connection refused")


@broken.command(http="POST /bug")
async def bug(ctx: Context, data: Nothing) -> str:
    """A command with a bug: a KeyError for a schema-valid body."""
    return {"other": "1"}[data.what]


@pytest.mark.parametrize(("path", "status"), [("/store-down", 503), ("/source-down", 502)])
async def test_infrastructure_failures_carry_no_url_schema_or_driver_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, status: int
) -> None:
    """A 503 or 502 says to retry and nothing of the store or service behind it; the log keeps it all."""
    async with (
        serve_domain(broken, tmp_path) as (server, _),
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        with caplog.at_level(logging.WARNING, logger="interlink.api"):
            response = await client.get(path)
    body = _problem(response, status)
    text = response.text
    for secret in ("postgresql", "s3cret", "db.internal", "interlink_broken", "Errno", "10.1.2.3", "http://"):
        assert secret not in text, text
    assert "retry" in body["detail"]
    assert any("10.1.2.3" in r.getMessage() or "db.internal" in r.getMessage() for r in caplog.records)


async def test_a_bug_in_a_command_is_a_500_problem_without_internals(tmp_path: Path) -> None:
    """A KeyError raised by a command for a schema-valid body is a 500 problem+json naming nothing inside."""
    async with (
        serve_domain(broken, tmp_path) as (server, _),
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        response = await client.post("/bug", json={"what": "missing"})
    body = _problem(response, 500)
    assert body["detail"] == "an unexpected error occurred"
    assert "KeyError" not in response.text
    assert "missing" not in response.text
