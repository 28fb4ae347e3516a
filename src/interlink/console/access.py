"""Who may use the console, and the checks every request passes: a session or the API's credentials,
the console scopes, a CSRF token and the Origin on every action.

A browser signs in once on the login page with a bearer token or an API key; the console keeps that
credential server-side under a random session id (an HttpOnly, SameSite=Strict cookie), and checks it
again with the API's authenticator on every request, so an expired token or a removed key ends the
session. Scripts may instead send ``Authorization`` or ``X-API-Key`` on each request: a browser never
adds those to a cross-site request, so such requests need no CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

from interlink.exceptions import AccessDenied
from interlink.patterns.api_exposure.security import Authenticator, Principal

__all__ = [
    "COOKIE",
    "LOCAL",
    "OPERATE",
    "PAYLOADS",
    "READ",
    "CsrfRefused",
    "Session",
    "Sessions",
    "Visitor",
    "credential_headers",
]

#: Viewing the console: status, dead letters (masked), sagas, the audit log.
READ = "console:read"
#: Acting: replay, discard, edit and replay, saga retry / compensate / abandon.
OPERATE = "console:operate"
#: Seeing (and so editing) message payloads in full.
PAYLOADS = "console:payloads"
COOKIE = "interlink_console"
#: Who uses a console served without authentication (loopback only): every scope.
LOCAL = Principal("local", frozenset({READ, OPERATE, PAYLOADS}))


class CsrfRefused(AccessDenied):
    """An action without the session's CSRF token, or sent from another origin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, authenticated=True)


@dataclass
class Session:
    """One signed-in browser: the credential it signed in with and its CSRF token."""

    headers: dict[str, str]
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class Sessions:
    """Sessions by id, in memory: a restart signs everyone out, which is the safe direction."""

    def __init__(self, ttl: float = 8 * 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, headers: Mapping[str, str]) -> tuple[str, Session]:
        """A new session for a credential; returns its id (the cookie value) and the session."""
        self._expire()
        session_id = secrets.token_urlsafe(32)
        session = self._by_id[session_id] = Session(dict(headers), self._clock() + self.ttl)
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, if any."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None or session.expires < self._clock():
            self._by_id.pop(session_id, None)
            return None
        return session

    def close(self, session_id: str | None) -> None:
        """Sign out."""
        if session_id:
            self._by_id.pop(session_id, None)

    def _expire(self) -> None:
        now = self._clock()
        for stale in [k for k, s in self._by_id.items() if s.expires < now]:
            del self._by_id[stale]


def credential_headers(credential: str) -> list[dict[str, str]]:
    """The request headers a pasted credential may stand for: a JWT (three dot-separated parts) is a
    bearer token, anything else an API key."""
    credential = credential.strip()
    if credential.lower().startswith("bearer "):
        credential = credential[7:].strip()
    if not credential:
        return []
    if credential.count(".") == 2:
        return [{"authorization": f"Bearer {credential}"}, {"x-api-key": credential}]
    return [{"x-api-key": credential}]


async def principal_for(auth: Authenticator | None, headers: Mapping[str, str]) -> Principal | None:
    """Who ``headers`` authenticate, with the API's own authenticator (None: no credential in them)."""
    if auth is None:
        return LOCAL
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    }
    return await auth.authenticate(Request(scope))


@dataclass(frozen=True)
class Visitor:
    """The principal behind a request and how it came (a browser session carries a CSRF token)."""

    principal: Principal
    session: Session | None = None

    @property
    def name(self) -> str:
        """Who the audit log names."""
        return self.principal.subject

    def may(self, scope: str) -> bool:
        """Whether the visitor holds ``scope``."""
        return scope in self.principal.scopes

    def require(self, scope: str, what: str) -> None:
        """AccessDenied (403) unless the visitor holds ``scope``."""
        if not self.may(scope):
            raise AccessDenied(f"{what} needs scope {scope!r}", authenticated=True)

    def check_action(self, request: Request, form: Mapping[str, str]) -> None:
        """CSRF for a browser session: the form's token must be the session's, and the request must come
        from the console's own origin (Origin, or Referer when a browser sends no Origin)."""
        if self.session is None:
            return
        token = form.get("csrf", "")
        if not token or not hmac.compare_digest(token.encode(), self.session.csrf.encode()):
            raise CsrfRefused("the form's CSRF token is missing or not this session's: reload the page")
        same_origin(request)


def same_origin(request: Request) -> None:
    """CsrfRefused unless the request names the console's own origin as where it comes from."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        raise CsrfRefused("the request names no origin; actions are only taken from the console's own pages")
    found = urlsplit(source)
    own = urlsplit(str(request.base_url))
    if (found.scheme, found.netloc) != (own.scheme, own.netloc):
        raise CsrfRefused(f"an action from {found.scheme}://{found.netloc} is refused: not the console's origin")
