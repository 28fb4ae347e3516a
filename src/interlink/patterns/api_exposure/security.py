"""Pluggable authentication, with bearer JWT and API keys built in, and scopes per command and query."""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from starlette.requests import Request

from interlink.exceptions import AccessDenied, ConfigurationError

__all__ = ["ApiKeyAuthenticator", "Authenticator", "JwtAuthenticator", "Principal", "require_scopes"]


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do."""

    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)


class Authenticator(abc.ABC):
    """Turns a request's credentials into a Principal; raises AccessDenied (401) on bad credentials."""

    @abc.abstractmethod
    async def authenticate(self, request: Request) -> Principal | None:
        """The caller, or None when the request carries no credentials this authenticator reads."""


def require_scopes(principal: Principal | None, needed: Sequence[str], what: str) -> None:
    """AccessDenied unless the principal holds every scope ``what`` needs."""
    if principal is None:
        raise AccessDenied(f"{what} needs authentication", authenticated=False)
    missing = sorted(set(needed) - principal.scopes)
    if missing:
        raise AccessDenied(f"{what} needs scope(s) {missing}", authenticated=True)


class JwtAuthenticator(Authenticator):
    """Bearer JWT: the algorithms are fixed here, never taken from the token; audience and issuer checked.

    Give ``secret`` for HS256 or ``jwks_file`` (a JSON Web Key Set) for RS256 / ES256 public keys. Scopes
    come from the ``scope`` claim (space-separated, RFC 8693) or a ``scopes`` list.
    """

    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        algorithms: Sequence[str] = ("HS256",),
        secret: str | None = None,
        jwks_file: Path | None = None,
        leeway: float = 30.0,
    ) -> None:
        if not algorithms or any(a.lower() == "none" for a in algorithms):
            raise ConfigurationError("JWT algorithms must be named, and 'none' is never accepted")
        if (secret is None) == (jwks_file is None):
            raise ConfigurationError("give the JWT authenticator either a secret (HS*) or a JWKS file (RS*/ES*)")
        self.audience = audience
        self.issuer = issuer
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self._secret = secret
        self._keys: dict[str | None, Any] = {}
        if jwks_file is not None:
            try:
                keyset = jwt.PyJWKSet.from_json(jwks_file.read_text())
            except (OSError, jwt.PyJWTError, ValueError) as exc:
                raise ConfigurationError(f"cannot read the JWKS file {jwks_file}: {exc}") from exc
            self._keys = {k.key_id: k.key for k in keyset.keys}

    def __repr__(self) -> str:
        return f"JwtAuthenticator(audience={self.audience!r}, issuer={self.issuer!r}, algorithms={self.algorithms})"

    async def authenticate(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(
                token,
                key=self._key_for(token),
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AccessDenied("the token has expired", authenticated=False) from exc
        except jwt.InvalidAudienceError as exc:
            raise AccessDenied("the token is not for this audience", authenticated=False) from exc
        except jwt.InvalidIssuerError as exc:
            raise AccessDenied("the token is not from the expected issuer", authenticated=False) from exc
        except jwt.PyJWTError as exc:
            raise AccessDenied(f"the token is not valid: {exc}", authenticated=False) from exc
        scopes = claims.get("scopes") or str(claims.get("scope", "")).split()
        return Principal(str(claims["sub"]), frozenset(str(s) for s in scopes))

    def _key_for(self, token: str) -> Any:
        if self._secret is not None:
            return self._secret
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise AccessDenied(f"the token is not valid: {exc}", authenticated=False) from exc
        key = self._keys.get(kid) or (next(iter(self._keys.values())) if len(self._keys) == 1 else None)
        if key is None:
            raise AccessDenied("the token's key id is not in the key set", authenticated=False)
        return key


class ApiKeyAuthenticator(Authenticator):
    """API keys in the ``X-API-Key`` header; only their SHA-256 digests are kept in memory."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self._digests = {hashlib.sha256(k.encode()).digest(): p for k, p in keys.items()}

    def __repr__(self) -> str:
        return f"ApiKeyAuthenticator({len(self._digests)} keys)"

    @classmethod
    def from_file(cls, path: Path) -> ApiKeyAuthenticator:
        """Keys from a JSON file: ``{"<key>": {"subject": "...", "scopes": ["..."]}}``."""
        try:
            raw = json.loads(path.read_text())
            keys = {k: Principal(v["subject"], frozenset(v.get("scopes", []))) for k, v in raw.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"cannot read API keys from {path}: {exc}") from exc
        return cls(keys)

    async def authenticate(self, request: Request) -> Principal | None:
        key = request.headers.get("x-api-key")
        if not key:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        for known, principal in self._digests.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise AccessDenied("the API key is not known", authenticated=False)


class AnyOf(Authenticator):
    """The first authenticator that finds credentials in the request decides."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    async def authenticate(self, request: Request) -> Principal | None:
        for authenticator in self.authenticators:
            principal = await authenticator.authenticate(request)
            if principal is not None:
                return principal
        return None
