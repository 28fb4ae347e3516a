"""HTTP as RFC 9110 and the OpenAPI document say: 400, 404, 405, 412, 415 and 422 where they belong, each as
problem+json, and the document telling the limits the server enforces.

The accounts domain of ``tests/support/api_app.py`` (and, with it in one process, the bank's customer
domain) served over real HTTP on SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.bank.customer import customer

from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import Runtime, Settings
from interlink.runtime.http import api_for
from tests.support.api_app import accounts
from tests.support.uvicorn_server import LiveServer

PROBLEM_JSON = "application/problem+json"
NEW = {"id": "A1", "holder": "ann", "currency": "EUR"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Accounts (at the root) served alone, as `interlink run --http` serves one domain."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=f"sqlite:///{tmp_path}/b.db")
    async with Runtime([accounts], settings) as runtime:
        app = api_for({"account": runtime["account"]}, ApiSettings(max_body_bytes=4096))
        async with LiveServer(app) as server, httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            yield http


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Accounts and customer in one process, each under /<domain>."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=f"sqlite:///{tmp_path}/b.db")
    async with Runtime([accounts, customer], settings) as runtime:
        app = api_for({"account": runtime["account"], "customer": runtime["customer"]}, ApiSettings())
        async with LiveServer(app) as server, httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem+json body of a response that must have this status."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_an_unparseable_body_is_a_400(client: httpx.AsyncClient) -> None:
    """A JSON body that does not parse is a 400 (a client error of syntax), not a 422."""
    response = await client.post("/accounts", content=b'{"id": "A1",', headers={"content-type": "application/json"})
    assert problem(response, 400)["detail"] == "the body is not valid JSON"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"id=A1&holder=ann", "application/x-www-form-urlencoded"), (b"A1", "text/plain"), (b"{}", None)],
    ids=["form", "text", "untyped"],
)
async def test_a_body_that_is_not_json_is_a_415(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    """A form, text or an untyped body is 415 Unsupported Media Type; nothing is opened."""
    headers = {"content-type": content_type} if content_type else {}
    request = client.build_request("POST", "/accounts", content=content, headers=headers)
    assert content_type is not None or "content-type" not in request.headers
    problem(await client.send(request), 415)
    assert (await client.get("/accounts")).json()["items"] == []


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: httpx.AsyncClient) -> None:
    """``application/json; charset=utf-8`` and ``application/merge-patch+json`` are JSON."""
    body = b'{"id": "A1", "holder": "ann", "currency": "EUR"}'
    ok = await client.post("/accounts", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 201, ok.text
    body2 = body.replace(b"A1", b"A2")
    ok2 = await client.post("/accounts", content=body2, headers={"content-type": "application/vnd.bank+json"})
    assert ok2.status_code == 201, ok2.text


async def test_405_allow_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    """/accounts serves GET (list) and POST (open): a DELETE is a 405 whose Allow names both."""
    response = await client.delete("/accounts")
    problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "POST"}


@pytest.mark.parametrize(
    "headers",
    [[("Idempotency-Key", "")], [("Idempotency-Key", "a\tb")], [("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")]],
    ids=["empty", "tab", "twice"],
)
async def test_an_empty_or_repeated_idempotency_key_is_a_400(
    client: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    """An empty key (which every caller would share), one with a control character, or two keys is a 400, and
    the command does not run."""
    problem(await client.post("/accounts", json=NEW, headers=headers), 400)
    assert (await client.get("/accounts")).json()["items"] == []


async def test_a_weak_etag_never_matches_a_write(client: httpx.AsyncClient) -> None:
    """``If-Match: W/"1"`` on the current version is a 412 (RFC 9110 strong comparison); ``"1"`` applies."""
    await client.post("/accounts", json=NEW)
    problem(await client.post("/accounts/A1/deposit", json={"amount": 1}, headers={"If-Match": 'W/"1"'}), 412)
    applied = await client.post("/accounts/A1/deposit", json={"amount": 1}, headers={"If-Match": '"1"'})
    assert applied.status_code == 200, applied.text


async def test_a_body_id_other_than_the_path_id_is_a_422_naming_both(two: httpx.AsyncClient) -> None:
    """PUT /customers/C1/address with ``"id": "C2"`` in the body is a 422 naming body.id and path.id."""
    registered = await two.post("/customer/customers", json={"id": "C1", "name": "Ann", "email": "a@b.example"})
    # Created, and read below the domain's prefix.
    assert (registered.status_code, registered.headers["location"]) == (201, "/customer/customers/C1"), registered.text
    address = {"street": "Main 1", "postcode": "1234", "city": "Town"}
    body = problem(await two.put("/customer/customers/C1/address", json={**address, "id": "C2"}), 422)
    assert {e["field"] for e in body["errors"]} == {"body.id", "path.id"}
    assert "'C2'" in body["errors"][0]["message"]
    assert "'C1'" in body["errors"][0]["message"]
    same = await two.put("/customer/customers/C1/address", json={**address, "id": "C1"})
    assert same.status_code == 200, same.text
    assert (await two.get("/customer/customers/C1")).json()["version"] == 2


async def test_a_cursor_the_api_never_issued_is_a_400(client: httpx.AsyncClient) -> None:
    """Made-up or altered cursors are 400s; the cursor a page gave out fetches the next page."""
    for id in ("A1", "A2", "A3"):
        await client.post("/accounts", json={**NEW, "id": id})
    first = (await client.get("/accounts", params={"limit": 2})).json()
    cursor = first["next_cursor"]
    following = await client.get("/accounts", params={"limit": 2, "cursor": cursor})
    assert [a["id"] for a in following.json()["items"]] == ["A3"]
    for bogus in ("QTI", "not-a-cursor", cursor[:-1] + ("0" if cursor[-1] != "0" else "1"), "." + cursor):
        problem(await client.get("/accounts", params={"cursor": bogus}), 400)


async def test_404_outside_every_domain_is_a_problem(two: httpx.AsyncClient) -> None:
    """With several domains in one process, a path under no domain is a 404 problem+json too."""
    for path in ("/nowhere", "/accounts", "/customer/nowhere"):
        assert problem(await two.get(path), 404)["instance"] == path


async def test_the_document_tells_what_the_server_enforces(client: httpx.AsyncClient) -> None:
    """400 and 415 are documented on commands, 400 on queries; If-Match and Idempotency-Key carry their
    patterns; the body limit and the lease are in the description."""
    document = (await client.get("/openapi.json")).json()
    deposit = document["paths"]["/accounts/{id}/deposit"]["post"]
    assert {"400", "413", "415", "422"} <= set(deposit["responses"])
    assert "400" in document["paths"]["/accounts"]["get"]["responses"]
    schemas = {p["name"]: p["schema"] for p in deposit["parameters"] if p["in"] == "header"}
    assert schemas["If-Match"]["pattern"] == '^(\\*|"[0-9]+")$', "the strong ETags, the only ones that match"
    assert "If-Match" not in {p["name"] for p in document["paths"]["/accounts"]["post"]["parameters"]}
    assert (schemas["Idempotency-Key"]["minLength"], schemas["Idempotency-Key"]["maxLength"]) == (1, 200)
    assert "pattern" in schemas["Idempotency-Key"]
    assert "at most 4096 bytes" in document["info"]["description"]
    assert "free again 5 s after" in document["info"]["description"]
