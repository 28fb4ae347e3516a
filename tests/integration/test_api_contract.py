"""The API's published contract: the OpenAPI 3.1 document validates, and a schemathesis run against the
live server finds no 5xx response and no response that breaks the document.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from interlink.patterns.api_exposure import ApiKeyAuthenticator, ApiSettings, JwtAuthenticator, Principal
from interlink.patterns.api_exposure.security import AnyOf
from tests.support.api_app import ADMIN, READ, WRITE, accounts
from tests.support.uvicorn_server import serve_domain

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_KEY = "fuzzer-key-0123456789"


async def _served_document(tmp_path: Path, api: ApiSettings | None = None) -> dict[str, Any]:
    async with (
        serve_domain(accounts, tmp_path, api) as (server, _),
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        document: dict[str, Any] = response.json()
        return document


async def test_served_openapi_document_validates(tmp_path: Path) -> None:
    """The document the running server publishes is valid OpenAPI 3.1 (openapi-spec-validator)."""
    document = await _served_document(tmp_path)
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_openapi_document_describes_every_route_and_error(tmp_path: Path) -> None:
    """Each command and query has its operation, and its error statuses are documented as problem+json."""
    auth = ApiKeyAuthenticator({API_KEY: Principal("fuzzer", frozenset({READ, WRITE, ADMIN}))})
    document = await _served_document(tmp_path, ApiSettings(auth=auth))
    operations = {
        op["operationId"]: (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    for name in [*accounts.commands, *accounts.queries]:
        assert name in operations, f"{name} has no operation"
    method, path, deposit = operations["deposit"]
    assert (method, path) == ("POST", "/accounts/{id}/deposit")
    assert {"404", "409", "412", "413", "422", "401", "403"} <= set(deposit["responses"])
    headers = {p["name"] for p in deposit["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "If-Match"}
    assert "application/problem+json" in deposit["responses"]["422"]["content"]
    assert set(operations["list_accounts"][2]["responses"]) >= {"200", "401", "403", "422"}


async def test_openapi_document_carries_the_declared_parameter_constraints(tmp_path: Path) -> None:
    """Bounds declared on a query parameter (``limit: Annotated[int, Field(ge=1, le=1000)]``) and the
    input model's constraints on a command's ``{id}`` reach the document, so clients and fuzzers see them."""
    document = await _served_document(tmp_path)
    (limit,) = [p for p in document["paths"]["/accounts"]["get"]["parameters"] if p["name"] == "limit"]
    assert (limit["schema"].get("minimum"), limit["schema"].get("maximum")) == (1, 1000), limit
    (path_id,) = document["paths"]["/accounts/{id}/deposit"]["post"]["parameters"][:1]
    assert path_id["name"] == "id"
    assert path_id["schema"].get("pattern") == "^[A-Za-z0-9-]+$", path_id
    assert path_id["schema"].get("maxLength") == 64, path_id


def test_cli_prints_the_document_the_server_serves(tmp_path: Path) -> None:
    """`interlink spec openapi MODULE:DOMAIN` prints a valid document, the same one a server publishes that
    takes bearer tokens and API keys at the --api-url given (the offline document describes a deployment)."""
    url = "https://accounts.bank.example"
    result = subprocess.run(
        [str(BIN / "interlink"), "spec", "openapi", "tests.support.api_app:accounts", "--api-url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    both = AnyOf([JwtAuthenticator(audience="accounts", issuer="login", secret="s" * 32), ApiKeyAuthenticator({})])
    assert printed == asyncio.run(_served_document(tmp_path, ApiSettings(auth=both, servers=(url,))))
    validate(printed)


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    """schemathesis, run against the live API (behind an API key), finds no 5xx and no schema violation."""
    auth = ApiKeyAuthenticator({API_KEY: Principal("fuzzer", frozenset({READ, WRITE, ADMIN}))})
    async with serve_domain(accounts, tmp_path, ApiSettings(auth=auth)) as (server, _):
        # The CLI runs in its own process, so its own warnings cannot trip this suite's warnings-as-errors.
        process = await asyncio.create_subprocess_exec(
            str(BIN / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--checks=not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples=15",
            "--seed=20261125",
            "--workers=1",
            "--no-shrink",
            "--request-timeout=20",
            f"--header=X-API-Key: {API_KEY}",
            cwd=tmp_path,
            env=os.environ | {"NO_PROXY": "127.0.0.1,localhost", "NO_COLOR": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "Unresolvable references" not in report, report[-6000:]
