"""Authentication and scopes over real HTTP: bearer JWT (HS256 secret, RS256 key set) and API keys.

Tokens are signed here with PyJWT; the ``alg: none`` token is put together by hand. Every refused request
is checked to have written nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from interlink.patterns.api_exposure import (
    ApiKeyAuthenticator,
    ApiSettings,
    Authenticator,
    JwtAuthenticator,
    Principal,
)
from interlink.runtime import DomainRuntime
from tests.support.api_app import READ, WRITE, accounts
from tests.support.uvicorn_server import serve_domain

AUDIENCE = "https://api.bank.test/accounts"
ISSUER = "https://login.bank.test/"
SECRET = "hs256-secret-for-the-api-tests-0123456789abcdef"
OTHER_SECRET = "another-secret-nobody-configured-0123456789abcdef"
KID = "test-key-1"
NEW_ACCOUNT = {"id": "A1", "holder": "ann", "currency": "EUR"}
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Signer:
    """How to sign tokens the server trusts, and with what key a forger would sign them."""

    algorithm: str
    key: Any
    forged_key: Any

    def sign(self, claims: dict[str, Any], *, key: Any = None, headers: dict[str, Any] | None = None) -> str:
        """A token with these claims, signed with the trusted key (or ``key``)."""
        return jwt.encode(
            claims, self.key if key is None else key, self.algorithm, headers={"kid": KID} | (headers or {})
        )


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The RS256 private key whose public half the server trusts, and another one it does not know."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def _jwks_file(folder: Path, key: rsa.RSAPrivateKey) -> Path:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    path = folder / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk | {"kid": KID, "alg": "RS256", "use": "sig"}]}))
    return path


@dataclass
class Secured:
    """A running API behind an authenticator, a client for it and, for JWT, the signer of its tokens."""

    client: httpx.AsyncClient
    runtime: DomainRuntime
    signer: Signer

    async def nothing_written(self) -> bool:
        """True when no account was opened: the refused requests had no effect."""
        return await self.runtime.store.load("Account", "A1") is None


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for the test server, with ``changes`` applied (a None value drops the claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "scope": f"{READ} {WRITE}",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def b64(value: bytes | dict[str, Any]) -> str:
    """base64url without padding, of bytes or of a JSON object: one part of a compact JWT."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    """A token with ``alg: none`` (or another spelling of it) and no signature, built by hand."""
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


def hs256_keyed_with(payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token whose HMAC key is ``key``, built by hand (PyJWT rightly refuses a PEM as HMAC key)."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{b64(payload)}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def _serve(tmp_path: Path, auth: Authenticator, signer: Signer) -> AsyncIterator[Secured]:
    async with (
        serve_domain(accounts, tmp_path, ApiSettings(auth=auth)) as (server, runtime),
        httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as client,
    ):
        yield Secured(client, runtime, signer)


@pytest.fixture(params=["hs256", "rs256"])
async def jwt_api(
    request: pytest.FixtureRequest, tmp_path: Path, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> AsyncIterator[Secured]:
    """The accounts API behind bearer JWT: an HS256 shared secret, or an RS256 key set read from a file."""
    if request.param == "hs256":
        auth = JwtAuthenticator(audience=AUDIENCE, issuer=ISSUER, secret=SECRET)
        signer = Signer("HS256", SECRET, OTHER_SECRET)
    else:
        trusted, unknown = rsa_keys
        auth = JwtAuthenticator(
            audience=AUDIENCE, issuer=ISSUER, algorithms=["RS256"], jwks_file=_jwks_file(tmp_path, trusted)
        )
        signer = Signer("RS256", trusted, unknown)
    async with _serve(tmp_path, auth, signer) as secured:
        yield secured


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of a response that must have this status."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# -- JWT -------------------------------------------------------------------------------------------------


async def test_valid_token_is_accepted(jwt_api: Secured) -> None:
    """A token signed with the trusted key, for this audience and issuer, with the scopes, is let in."""
    headers = bearer(jwt_api.signer.sign(claims()))
    created = await jwt_api.client.post("/accounts", json=NEW_ACCOUNT, headers=headers)
    assert created.status_code == 201, created.text
    read = await jwt_api.client.get("/accounts/A1", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["holder"] == "ann"


async def test_scopes_may_come_as_a_list_claim(jwt_api: Secured) -> None:
    """A ``scopes`` list claim grants the same as a space-separated ``scope`` claim."""
    token = jwt_api.signer.sign(claims(scope=None, scopes=[READ]))
    response = await jwt_api.client.get("/accounts", headers=bearer(token))
    assert response.status_code == 200, response.text


def _rejected_tokens(signer: Signer) -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": signer.sign(claims(exp=now - 120, iat=now - 600)),
        "wrong audience": signer.sign(claims(aud="https://api.other.test/")),
        "wrong issuer": signer.sign(claims(iss="https://evil.test/")),
        "bad signature": signer.sign(claims(), key=signer.forged_key),
        "not yet valid": signer.sign(claims(nbf=now + 600)),
        "no expiry": signer.sign(claims(exp=None)),
        "no subject": signer.sign(claims(sub=None)),
        "alg none": unsigned(claims()),
        "alg None": unsigned(claims(), alg="None"),
        "alg NONE": unsigned(claims(), alg="NONE"),
        "garbage": "not.a.token",
        "tampered": _tampered(signer.sign(claims(scope=READ)), claims(scope=f"{READ} {WRITE}")),
    }


def _tampered(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(payload)}.{signature}"


REJECTED = [
    "expired", "wrong audience", "wrong issuer", "bad signature", "not yet valid", "no expiry", "no subject",
    "alg none", "alg None", "alg NONE", "garbage", "tampered",
]  # fmt: skip


@pytest.mark.parametrize("case", REJECTED)
async def test_bad_token_is_401_and_runs_nothing(jwt_api: Secured, case: str) -> None:
    """Expired, foreign, forged, unsigned or malformed tokens are a 401 problem; the command does not run."""
    token = _rejected_tokens(jwt_api.signer)[case]
    body = problem(await jwt_api.client.post("/accounts", json=NEW_ACCOUNT, headers=bearer(token)), 401)
    assert body["detail"]
    if case == "expired":
        assert "expired" in body["detail"]
    if case in ("wrong audience", "wrong issuer"):
        assert case.split()[1] in body["detail"]
    assert await jwt_api.nothing_written()


async def test_rs256_key_set_refuses_hs256_signed_with_its_public_key(
    tmp_path: Path, rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    """The algorithm-confusion attack (HS256 keyed with the RSA public key) gets a 401 from an RS256 server."""
    trusted, _ = rsa_keys
    jwks = _jwks_file(tmp_path, trusted)
    auth = JwtAuthenticator(audience=AUDIENCE, issuer=ISSUER, algorithms=["RS256"], jwks_file=jwks)
    public_pem = trusted.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = hs256_keyed_with(claims(), public_pem)
    async with _serve(tmp_path, auth, Signer("RS256", trusted, None)) as api:
        problem(await api.client.post("/accounts", json=NEW_ACCOUNT, headers=bearer(forged)), 401)
        assert await api.nothing_written()


async def test_missing_scope_is_403_and_runs_nothing(jwt_api: Secured) -> None:
    """A valid token without the command's scope is a 403 naming the scope; reads it holds still work."""
    token = jwt_api.signer.sign(claims(scope=READ))
    body = problem(await jwt_api.client.post("/accounts", json=NEW_ACCOUNT, headers=bearer(token)), 403)
    assert WRITE in body["detail"]
    assert (await jwt_api.client.get("/accounts", headers=bearer(token))).status_code == 200
    assert await jwt_api.nothing_written()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Token abc.def.ghi"},
    ],
    ids=["none", "empty-bearer", "basic", "other-scheme"],
)
async def test_no_token_is_401_with_www_authenticate(jwt_api: Secured, headers: dict[str, str]) -> None:
    """Without a bearer token, commands and queries are a 401 problem with a WWW-Authenticate challenge."""
    for method, path, payload in (("POST", "/accounts", NEW_ACCOUNT), ("GET", "/accounts", None)):
        response = await jwt_api.client.request(method, path, json=payload, headers=headers)
        problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await jwt_api.nothing_written()


async def test_probes_need_no_credentials(jwt_api: Secured) -> None:
    """/healthz, /readyz and /openapi.json answer without a token: they reveal no data."""
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await jwt_api.client.get(path)).status_code == 200, path


# -- API keys --------------------------------------------------------------------------------------------


@pytest.fixture
async def key_api(tmp_path: Path) -> AsyncIterator[Secured]:
    """The accounts API behind API keys read from a file: a reader's key and a writer's key."""
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            {
                "reader-key-0123456789": {"subject": "reporting", "scopes": [READ]},
                "writer-key-0123456789": {"subject": "teller", "scopes": [READ, WRITE]},
            }
        )
    )
    async with _serve(tmp_path, ApiKeyAuthenticator.from_file(path), Signer("none", None, None)) as secured:
        yield secured


async def test_known_api_key_is_accepted(key_api: Secured) -> None:
    """A known key with the scopes runs the command and the query."""
    headers = {"X-API-Key": "writer-key-0123456789"}
    assert (await key_api.client.post("/accounts", json=NEW_ACCOUNT, headers=headers)).status_code == 201
    assert (await key_api.client.get("/accounts/A1", headers=headers)).json()["holder"] == "ann"


@pytest.mark.parametrize("key", ["unknown-key", "writer-key-012345678", "WRITER-KEY-0123456789", ""])
async def test_unknown_api_key_is_401(key_api: Secured, key: str) -> None:
    """A key that is not known (or is missing) is a 401 and runs nothing."""
    problem(await key_api.client.post("/accounts", json=NEW_ACCOUNT, headers={"X-API-Key": key}), 401)
    assert await key_api.nothing_written()


async def test_api_key_without_the_scope_is_403(key_api: Secured) -> None:
    """A known key lacking the command's scope is a 403; the reads it may do still work."""
    headers = {"X-API-Key": "reader-key-0123456789"}
    body = problem(await key_api.client.post("/accounts", json=NEW_ACCOUNT, headers=headers), 403)
    assert WRITE in body["detail"]
    assert (await key_api.client.get("/accounts", headers=headers)).status_code == 200
    assert await key_api.nothing_written()


def test_principal_is_what_a_key_maps_to() -> None:
    """An in-memory key table maps each key to its principal (the file format is the same mapping)."""
    auth = ApiKeyAuthenticator({"k": Principal("svc", frozenset({READ}))})
    assert "1 keys" in repr(auth)
    assert "k" not in repr(auth).replace("keys", "")
