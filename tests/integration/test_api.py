"""Pattern 1, API Exposure, over real HTTP: a uvicorn server on loopback, an httpx client over TCP.

Each test runs the accounts domain of ``tests/support/api_app.py`` on its own SQLite store and SQLite
broker in ``tmp_path``. Effects are counted in the store itself: the aggregate's version and balance, and
the number of outbox rows ever written (SQLite's AUTOINCREMENT counter, which sent rows do not lower).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import DomainRuntime
from tests.support.api_app import accounts, open_account
from tests.support.uvicorn_server import LiveServer, serve_domain

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 4096


@dataclass
class Api:
    """A running accounts API: the client, the domain behind it, and its folder."""

    client: httpx.AsyncClient
    runtime: DomainRuntime
    server: LiveServer
    workdir: Path

    def outbox_rows_written(self) -> int:
        """Outbox rows ever committed (sent ones included)."""
        with closing(sqlite3.connect(self.workdir / "account.db")) as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'interlink_outbox'").fetchone()
        return int(row[0]) if row else 0

    async def open(self, id: str, *, holder: str = "ann", currency: str = "EUR", balance: int = 0) -> dict[str, Any]:
        """Open an account through the API and return it."""
        response = await self.client.post(
            "/accounts", json={"id": id, "holder": holder, "currency": currency, "balance": balance}
        )
        # A new account is created: 201, and where to read it.
        assert (response.status_code, response.headers.get("location")) == (201, f"/accounts/{id}"), response.text
        body: dict[str, Any] = response.json()
        return body

    async def account(self, id: str) -> dict[str, Any]:
        """The account as the API shows it now."""
        response = await self.client.get(f"/accounts/{id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def client_for(server: LiveServer) -> httpx.AsyncClient:
    """A real HTTP client on the server's TCP port (no proxy from the environment)."""
    return httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The accounts API without authentication, with a small body limit."""
    async with (
        serve_domain(accounts, tmp_path, ApiSettings(max_body_bytes=MAX_BODY)) as (server, runtime),
        client_for(server) as client,
    ):
        yield Api(client, runtime, server, tmp_path)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of a response that must have this status."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    """The names of the invalid fields a 422 problem lists."""
    return {error["field"] for error in body.get("errors") or []}


# -- 422: validation, each field named ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {"body.id", "body.holder", "body.currency"}),
        (
            {"id": "no spaces", "holder": "", "currency": "GBP", "balance": -1, "colour": "red"},
            {"body.id", "body.holder", "body.currency", "body.balance", "body.colour"},
        ),
        ({"id": "A1", "holder": 7, "currency": "EUR", "balance": "lots"}, {"body.holder", "body.balance"}),
    ],
    ids=["missing", "all-wrong", "wrong-types"],
)
async def test_invalid_body_is_422_naming_every_invalid_field(
    api: Api, payload: dict[str, Any], expected: set[str]
) -> None:
    """A body that does not validate is a 422 problem that lists each invalid field, and nothing is written."""
    body = problem(await api.client.post("/accounts", json=payload), 422)
    assert fields(body) == expected
    assert all(error["message"] for error in body["errors"])
    assert api.outbox_rows_written() == 0


async def test_invalid_query_parameters_are_422_naming_each(api: Api) -> None:
    """Query parameters of the wrong type or outside their choices are named one by one in the 422."""
    body = problem(await api.client.get("/accounts", params={"limit": "many", "currency": "GBP"}), 422)
    assert fields(body) == {"query.limit", "query.currency"}


async def test_path_id_breaking_the_input_model_is_422_naming_it(api: Api) -> None:
    """An {id} path segment that the command's input model refuses is a 422 naming the id, not a 500."""
    await api.open("A1")
    for bad in ("a_b", "x" * 65):
        body = problem(await api.client.post(f"/accounts/{bad}/deposit", json={"amount": 5}), 422)
        assert any(field.endswith("id") for field in fields(body)), body


async def test_limit_outside_its_bounds_is_422(api: Api) -> None:
    """A page size the list refuses is a 422 that says what the bounds are."""
    for limit in (0, -1, 1001):
        body = problem(await api.client.get("/accounts", params={"limit": limit}), 422)
        assert "query.limit" in fields(body) or "limit" in body["detail"], body


async def test_business_rule_refusal_is_422_with_its_reason(api: Api) -> None:
    """A command refused by a business rule is a 422 whose detail is the rule's reason; nothing changes."""
    await api.open("A1", balance=100)
    body = problem(await api.client.post("/accounts/A1/withdraw", json={"amount": 500}), 422)
    assert body["detail"] == "insufficient funds: balance 100, asked 500"
    assert body["instance"] == "/accounts/A1/withdraw"
    account = await api.account("A1")
    assert (account["balance"], account["version"]) == (100, 1)
    assert api.outbox_rows_written() == 1


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/accounts", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/accounts", {"json": ["an", "array"]}),
    ("POST", "/accounts", {"json": "a string"}),
    ("POST", "/accounts", {"json": None}),
    ("POST", "/accounts", {}),
    ("POST", "/accounts", {"content": b"id=A1", "headers": {"content-type": "text/plain"}}),
    ("POST", "/accounts", {"content": b"[" * 3000 + b"]" * 3000, "headers": {"content-type": "application/json"}}),
    ("POST", "/accounts", {"json": {"id": "A1", "holder": "a", "currency": "EUR", "balance": 10**30}}),
    ("POST", "/accounts", {"content": b'{"id":"A1","holder":"a","currency":"EUR","balance":1e400}'}),
    ("POST", "/accounts", {"json": {"id": "\u0000", "holder": "\ud7ff\u0000", "currency": "EUR"}}),
    ("POST", "/accounts", {"json": {"id": "A" * 65, "holder": "a", "currency": "EUR"}}),
    ("POST", "/accounts", {"json": {"id": "A1", "holder": "a", "currency": "EUR"}, "headers": {"If-Match": '"1"'}}),
    ("POST", "/accounts", {"json": {"id": "A2", "holder": "a", "currency": "EUR"}, "headers": {"If-Match": "*"}}),
    ("POST", "/accounts", {"json": {"id": "A3", "holder": "a", "currency": "EUR"}, "headers": {"Idempotency-Key": "k" * 201}}),  # noqa: E501
    ("POST", "/accounts/A1/deposit", {"json": {"amount": 0}}),
    ("POST", "/accounts/A1/deposit", {"json": {"amount": 5, "id": "B"}}),
    ("POST", "/accounts/A1/deposit", {"json": {"amount": 5}, "headers": {"If-Match": "version one"}}),
    ("POST", "/accounts/A%2FB/deposit", {"json": {"amount": 5}}),
    ("POST", "/accounts/%00/deposit", {"json": {"amount": 5}}),
    ("POST", "/accounts/\u00e9t\u00e9/withdraw", {"json": {"amount": 5}}),
    ("POST", "/audits", {"json": {"id": "T1", "seconds": -1}}),
    ("GET", "/accounts", {"params": {"cursor": "not a cursor \u00e9"}}),
    ("GET", "/accounts", {"params": {"cursor": "%%%", "limit": "1e3"}}),
    ("GET", "/accounts", {"params": {"limit": 2**70}}),
    ("GET", "/accounts/%ff", {}),
    ("DELETE", "/accounts", {}),
    ("GET", "/no/such/route", {}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "options"), BAD_REQUESTS, ids=[f"{m} {p}" for m, p, _ in BAD_REQUESTS])
async def test_bad_input_is_never_a_5xx(api: Api, method: str, path: str, options: dict[str, Any]) -> None:
    """Malformed, oversized, out-of-range or misplaced input gets a 4xx problem+json, never a 5xx."""
    await api.open("A1", balance=10)
    response = await api.client.request(method, path, **options)
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON, response.text


# -- 404 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/accounts/nobody", "Account 'nobody' not found"),
        ("POST", "/accounts/nobody/deposit", "Account 'nobody' not found"),
        ("GET", "/nowhere", None),
    ],
    ids=["query", "command", "route"],
)
async def test_missing_resource_is_404_problem(api: Api, method: str, path: str, detail: str | None) -> None:
    """An unknown account (through a query or a command) or an unknown route is a 404 problem."""
    body = problem(await api.client.request(method, path, json={"amount": 1} if method == "POST" else None), 404)
    assert body.get("detail") == detail
    assert body["instance"] == path


# -- 409: version conflicts ----------------------------------------------------------------------------


async def test_creating_an_existing_account_is_a_409_version_conflict(api: Api) -> None:
    """Opening an id that exists is a 409; the first account and its single event stay as they were."""
    await api.open("A1", holder="ann")
    body = problem(await api.client.post("/accounts", json={"id": "A1", "holder": "bob", "currency": "USD"}), 409)
    assert "A1" in body["detail"]
    assert (await api.account("A1"))["holder"] == "ann"
    assert api.outbox_rows_written() == 1


async def test_concurrent_updates_each_apply_or_conflict(api: Api) -> None:
    """Deposits racing on one account are each applied (200) or refused (409), never lost or doubled."""
    await api.open("A1")
    amounts = [2**i for i in range(20)]
    responses = await asyncio.gather(
        *(api.client.post("/accounts/A1/deposit", json={"amount": amount}) for amount in amounts)
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses if r.status_code not in (200, 409)]
    applied = [amount for amount, status in zip(amounts, statuses, strict=True) if status == 200]
    account = await api.account("A1")
    assert account["balance"] == sum(applied)
    assert account["version"] == 1 + len(applied)
    assert api.outbox_rows_written() == 1 + len(applied)


# -- 412: If-Match ---------------------------------------------------------------------------------------


async def test_if_match_applies_on_the_current_etag_and_412s_on_a_stale_one(api: Api) -> None:
    """The ETag a read gave applies once; reusing it after the change, or sending it weak, is a 412 that writes
    nothing."""
    await api.open("A1")
    read = await api.client.get("/accounts/A1")
    assert read.headers["etag"] == '"1"'
    first = await api.client.post("/accounts/A1/deposit", json={"amount": 10}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    stale = problem(
        await api.client.post("/accounts/A1/deposit", json={"amount": 10}, headers={"If-Match": '"1"'}), 412
    )
    assert "version 2" in stale["detail"]
    weak = await api.client.post("/accounts/A1/deposit", json={"amount": 5}, headers={"If-Match": 'W/"2"'})
    assert "weak" in problem(weak, 412)["detail"], "RFC 9110: If-Match compares strongly; a weak tag never matches"
    strong = await api.client.post("/accounts/A1/deposit", json={"amount": 5}, headers={"If-Match": '"2"'})
    assert strong.status_code == 200, strong.text
    account = await api.account("A1")
    assert (account["balance"], account["version"]) == (15, 3)
    assert api.outbox_rows_written() == 3


async def test_if_match_star_means_the_account_exists(api: Api) -> None:
    """``If-Match: *`` (RFC 9110 13.1.1) applies to an account that exists and is a 412 for one that does not."""
    await api.open("A1")
    applied = await api.client.post("/accounts/A1/deposit", json={"amount": 1}, headers={"If-Match": "*"})
    assert applied.status_code == 200, applied.text
    problem(await api.client.post("/accounts/ghost/deposit", json={"amount": 1}, headers={"If-Match": "*"}), 412)


async def test_if_match_on_a_missing_account_is_412(api: Api) -> None:
    """If-Match naming a version of an account that does not exist fails its precondition."""
    body = problem(
        await api.client.post("/accounts/ghost/deposit", json={"amount": 1}, headers={"If-Match": '"1"'}), 412
    )
    assert "does not exist" in body["detail"]


async def test_if_match_that_is_not_an_etag_is_422(api: Api) -> None:
    """An If-Match value this API never gave out is refused as invalid input, not guessed at."""
    await api.open("A1")
    body = problem(await api.client.post("/accounts/A1/deposit", json={"amount": 1}, headers={"If-Match": "1"}), 422)
    assert any("If-Match" in error["field"] for error in body["errors"]), body
    assert (await api.account("A1"))["version"] == 1


# -- 413 -------------------------------------------------------------------------------------------------


async def _chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"id": "BIG", "holder": "'
    for _ in range(total // 1000):
        yield b"x" * 1000
    yield b'", "currency": "EUR"}'


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_body_over_the_limit_is_413_and_writes_nothing(api: Api, framing: str) -> None:
    """A body over the limit is a 413 problem, whether it declares its length or streams in chunks."""
    if framing == "content-length":
        payload = {"id": "BIG", "holder": "x" * (2 * MAX_BODY), "currency": "EUR"}
        response = await api.client.post("/accounts", json=payload)
    else:
        response = await api.client.post(
            "/accounts", content=_chunks(4 * MAX_BODY), headers={"content-type": "application/json"}
        )
        assert response.request.headers.get("transfer-encoding") == "chunked"
    body = problem(response, 413)
    assert str(MAX_BODY) in body["detail"]
    assert (await api.client.get("/accounts/BIG")).status_code == 404
    assert api.outbox_rows_written() == 0


# -- 504 -------------------------------------------------------------------------------------------------


async def test_request_timeout_is_504_and_leaves_no_effect(tmp_path: Path) -> None:
    """A command outlasting the request timeout is a 504; it is cancelled, and its key can be retried."""
    async with (
        serve_domain(accounts, tmp_path, ApiSettings(request_timeout=0.2)) as (server, runtime),
        client_for(server) as client,
    ):
        headers = {"Idempotency-Key": "audit-T1"}
        for _ in range(2):  # the second run proves the key was released, not left pending (409)
            response = await client.post("/audits", json={"id": "T1", "seconds": 0.5}, headers=headers)
            body = problem(response, 504)
            assert "0.2s" in body["detail"]
        assert await runtime.store.load("Audit", "T1") is None
        quick = await client.post("/audits", json={"id": "T1", "seconds": 0}, headers=headers)
        assert quick.status_code == 200, quick.text  # the timed-out requests left no claim on the key
        stored = await runtime.store.load("Audit", "T1")
        assert stored is not None
        assert stored.version == 1


# -- Idempotency-Key -------------------------------------------------------------------------------------


async def test_idempotent_retry_returns_the_stored_response_and_runs_once(api: Api) -> None:
    """The same key and body answer the stored response again, marked as replayed; the effect happens once."""
    await api.open("A1")
    headers = {"Idempotency-Key": "dep-0001"}
    first = await api.client.post("/accounts/A1/deposit", json={"amount": 100}, headers=headers)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    await api.client.post("/accounts/A1/deposit", json={"amount": 1})  # the account moves on meanwhile
    for _ in range(3):
        again = await api.client.post("/accounts/A1/deposit", json={"amount": 100}, headers=headers)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
    account = await api.account("A1")
    assert (account["balance"], account["version"]) == (101, 3)
    assert api.outbox_rows_written() == 3


async def test_replayed_response_keeps_the_etag(api: Api) -> None:
    """A replay is the stored response whole: a client retrying after a lost answer still gets the ETag
    it needs for its next If-Match."""
    await api.open("A1")
    headers = {"Idempotency-Key": "dep-etag"}
    first = await api.client.post("/accounts/A1/deposit", json={"amount": 100}, headers=headers)
    assert first.headers["etag"] == '"2"'
    again = await api.client.post("/accounts/A1/deposit", json={"amount": 100}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers.get("etag") == '"2"'


async def test_idempotency_key_reused_for_another_request_is_422(api: Api) -> None:
    """A key already used with another body, or on another route, is a 422 and runs nothing."""
    await api.open("A1")
    await api.open("A2")
    headers = {"Idempotency-Key": "dep-0002"}
    assert (await api.client.post("/accounts/A1/deposit", json={"amount": 100}, headers=headers)).status_code == 200
    other_body = problem(await api.client.post("/accounts/A1/deposit", json={"amount": 999}, headers=headers), 422)
    assert "Idempotency-Key" in other_body["detail"]
    problem(await api.client.post("/accounts/A2/deposit", json={"amount": 100}, headers=headers), 422)
    assert (await api.account("A1"))["balance"] == 100
    assert (await api.account("A2"))["balance"] == 0
    assert api.outbox_rows_written() == 3


async def test_concurrent_duplicate_with_the_same_key_is_409_and_runs_once(api: Api) -> None:
    """While a keyed request runs, its duplicate gets a 409; afterwards the key replays the one result."""
    headers = {"Idempotency-Key": "audit-0001"}
    request = {"id": "T1", "seconds": 0.4}
    responses = await asyncio.gather(*(api.client.post("/audits", json=request, headers=headers) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    (done,) = [r for r in responses if r.status_code == 200]
    (busy,) = [r for r in responses if r.status_code == 409]
    assert "still running" in problem(busy, 409)["detail"]
    replay = await api.client.post("/audits", json=request, headers=headers)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == done.content
    stored = await api.runtime.store.load("Audit", "T1")
    assert stored is not None
    assert stored.version == 1


async def test_failed_command_does_not_use_up_its_key(api: Api) -> None:
    """A keyed command refused by a business rule releases its key: the retry runs and applies once."""
    await api.open("A1", balance=10)
    headers = {"Idempotency-Key": "wd-0001"}
    problem(await api.client.post("/accounts/A1/withdraw", json={"amount": 50}, headers=headers), 422)
    await api.client.post("/accounts/A1/deposit", json={"amount": 40})
    retried = await api.client.post("/accounts/A1/withdraw", json={"amount": 50}, headers=headers)
    assert retried.status_code == 200, retried.text
    replay = await api.client.post("/accounts/A1/withdraw", json={"amount": 50}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    account = await api.account("A1")
    assert (account["balance"], account["version"]) == (0, 3)


# -- pagination ------------------------------------------------------------------------------------------


async def _create_accounts(runtime: DomainRuntime, count: int, *, start: int = 0) -> list[str]:
    """Open ``count`` accounts straight through the runtime (the listing is what goes over HTTP here)."""
    ids = [f"AC{i:05d}" for i in range(start, start + count)]
    holders = ["ann", "bob", "cy"]
    await asyncio.gather(
        *(
            runtime.execute(open_account, {"id": id, "holder": holders[i % 3], "currency": "EUR"})
            for i, id in enumerate(ids, start)
        )
    )
    return ids


async def _walk(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], int]:
    """Every id a list returns following next_cursor, and the number of pages."""
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        response = await client.get("/accounts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 1000, "the cursor never ends"


@pytest.mark.parametrize(("limit", "pages"), [(None, 21), (100, 11), (1000, 2)])
async def test_pagination_returns_each_of_1050_accounts_once(api: Api, limit: int | None, pages: int) -> None:
    """Following next_cursor lists each of 1,050 accounts exactly once, in id order, at any page size."""
    ids = await _create_accounts(api.runtime, 1050)
    seen, walked = await _walk(api.client, **({"limit": limit} if limit else {}))
    assert seen == ids
    assert walked == pages


async def test_pagination_with_a_filter_lists_only_matches(api: Api) -> None:
    """A filter applies across pages: only the holder's accounts come back, each once."""
    ids = await _create_accounts(api.runtime, 1050)
    seen, _ = await _walk(api.client, holder="bob", limit=100)
    assert seen == ids[1::3]
    none, pages = await _walk(api.client, holder="nobody")
    assert (none, pages) == ([], 1)


async def test_pagination_is_stable_while_accounts_are_added(api: Api) -> None:
    """Accounts opened while a client pages through do not make it skip or repeat any earlier one."""
    ids = await _create_accounts(api.runtime, 1000)
    seen: list[str] = []
    cursor: str | None = None
    extra = 0
    while True:
        response = await api.client.get("/accounts", params={"limit": 97} | ({"cursor": cursor} if cursor else {}))
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Between pages, open accounts before and after the cursor (ids sort between the existing ones).
        await _create_accounts(api.runtime, 1, start=100_000 + extra)
        await api.open(f"AC{extra:05d}-late")
        extra += 1
    assert len(seen) == len(set(seen))
    assert set(ids) <= set(seen)
    assert seen == sorted(seen)


# -- the rest of the contract: headers, health ------------------------------------------------------------


async def test_responses_carry_etag_and_the_callers_correlation_id(api: Api) -> None:
    """Reads and writes of an aggregate give its ETag; a caller's X-Correlation-Id comes back unchanged."""
    created = await api.client.post(
        "/accounts",
        json={"id": "A1", "holder": "ann", "currency": "EUR"},
        headers={"X-Correlation-Id": "flow-42"},
    )
    assert created.headers["etag"] == '"1"'
    assert created.headers["x-correlation-id"] == "flow-42"
    listed = await api.client.get("/accounts", headers={"X-Correlation-Id": "bad id with spaces"})
    assert listed.headers["x-correlation-id"] != "bad id with spaces"
    assert "etag" not in listed.headers


async def test_a_request_without_a_usable_correlation_id_gets_a_fresh_one(api: Api) -> None:
    """Without an X-Correlation-Id (or with one that is not safe), each request is given its own: 32 hex digits."""
    given = [
        (await api.client.get("/accounts", headers=headers)).headers["x-correlation-id"]
        for headers in ({}, {}, {"X-Correlation-Id": "bad id with spaces"})
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", found) for found in given)
    assert len(set(given)) == 3


async def test_health_and_readiness(api: Api) -> None:
    """/healthz answers, and /readyz reports the store, the broker and the outbox as ready."""
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"store", "broker", "outbox"}
