"""The console as an ASGI application: server-rendered pages, and POST forms for every action.

Mounted at ``/console`` by ``interlink run --console`` and served alone by ``interlink console``. Every page
needs the ``console:read`` scope, every action ``console:operate`` (editing a payload also
``console:payloads``), a reason, the session's CSRF token and the console's own Origin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from interlink.console import landscape as landscape_view
from interlink.console import pages
from interlink.console.access import (
    COOKIE,
    OPERATE,
    PAYLOADS,
    READ,
    Sessions,
    Visitor,
    credential_headers,
    principal_for,
    same_origin,
)
from interlink.console.backend import ConsoleDomain
from interlink.console.forms import count_of, field, form_of, ids_of, login_body, reason_of
from interlink.console.html import Markup, esc, layout, url
from interlink.exceptions import AccessDenied, InterlinkError, NotFoundError
from interlink.patterns.api_exposure.security import Authenticator
from interlink.specs.landscape import Landscape

__all__ = ["ConsoleSettings", "build_console"]

log = logging.getLogger("interlink.console")
_HEADERS = {
    # Pages load only their own assets, are never framed, and are never cached (they show live data).
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console authenticates: the API's authenticator (None: loopback only, everyone is ``local``
    with every scope); ``secure_cookie`` when it is served over HTTPS; how long a session lasts; how often
    (seconds) the landscape page refreshes its figures."""

    auth: Authenticator | None = None
    secure_cookie: bool = False
    session_ttl: float = 8 * 3600.0
    refresh: float = 5.0


Handler = Callable[[Request, Visitor, ConsoleDomain], Awaitable[Response]]


def build_console(
    domains: Sequence[ConsoleDomain], settings: ConsoleSettings | None = None, landscape: Landscape | None = None
) -> Starlette:
    """The console application for ``domains``; with their ``landscape``, a diagram page with figures per arrow."""
    return _Console({d.name: d for d in domains}, settings or ConsoleSettings(), landscape).app


class _Console:
    def __init__(
        self, domains: Mapping[str, ConsoleDomain], settings: ConsoleSettings, landscape: Landscape | None
    ) -> None:
        self.domains = dict(domains)
        self.landscape = landscape
        self.settings = settings
        self.sessions = Sessions(settings.session_ttl)
        d = "/{domain}"
        routes = [
            Mount("/static", StaticFiles(packages=[("interlink.console", "static")]), name="static"),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.overview, methods=["GET"]),
            Route("/landscape", self.diagram, methods=["GET"]),
            Route("/landscape/figures", self.diagram_figures, methods=["GET"]),
            Route(d + "/dead-letters", self._page(self.dead_letters), methods=["GET"]),
            Route(d + "/dead-letters/{id:int}", self._page(self.letter), methods=["GET"]),
            Route(d + "/dead-letters/replay", self._action(self.replay), methods=["POST"]),
            Route(d + "/dead-letters/replay-group", self._action(self.replay_group), methods=["POST"]),
            Route(d + "/dead-letters/discard", self._action(self.discard), methods=["POST"]),
            Route(d + "/dead-letters/{id:int}/edit", self._action(self.edit, PAYLOADS), methods=["POST"]),
            Route(d + "/sagas", self._page(self.sagas), methods=["GET"]),
            Route(d + "/sagas/{id}", self._page(self.saga), methods=["GET"]),
            Route(d + "/sagas/{id}/{verb}", self._action(self.saga_action), methods=["POST"]),
            Route(d + "/audit", self._page(self.audit), methods=["GET"]),
        ]
        handlers = {AccessDenied: self.denied, InterlinkError: self.failed, HTTPException: self.http_error}
        self.app = Starlette(routes=routes, exception_handlers=handlers)

    # -- who is asking ----------------------------------------------------------------------------

    async def visitor(self, request: Request, *, action: bool = False) -> Visitor:
        """The visitor behind the request: API credentials in headers, or a signed-in session."""
        auth = self.settings.auth
        given = {k: request.headers[k] for k in ("authorization", "x-api-key") if k in request.headers}
        if auth is not None and given:
            principal = await principal_for(auth, given)
            if principal is None:
                raise AccessDenied("the console needs authentication", authenticated=False)
            return Visitor(principal)
        session_id = request.cookies.get(COOKIE)
        session = self.sessions.get(session_id)
        if session is None and auth is None and not action:
            # Unauthenticated console (loopback only): a session anyway, so that actions carry a CSRF token.
            session_id, session = self.sessions.open({})
            request.state.new_session = session_id
        if session is None:
            raise AccessDenied("sign in to the console first", authenticated=False)
        try:
            principal = await principal_for(auth, session.headers)
        except AccessDenied:
            self.sessions.close(session_id)
            raise
        if principal is None:
            raise AccessDenied("sign in to the console first", authenticated=False)
        return Visitor(principal, session)

    def domain(self, request: Request) -> ConsoleDomain:
        name = request.path_params["domain"]
        if name not in self.domains:
            raise NotFoundError("domain", name)
        return self.domains[name]

    # -- responses --------------------------------------------------------------------------------

    def html(self, request: Request, title: str, body: str, visitor: Visitor | None, status: int = 200) -> Response:
        base = request.scope.get("root_path", "")
        nav = [(url(base, n, "dead-letters"), f"{n}") for n in self.domains]
        if self.landscape is not None:
            nav.append((url(base, "landscape"), "landscape"))
        who = "" if visitor is None else f"{visitor.name} ({', '.join(sorted(visitor.principal.scopes))})"
        csrf = visitor.session.csrf if visitor and visitor.session else None
        notice = request.query_params.get("done", "")
        page = layout(title, body, nav=nav, who=who, csrf=csrf, notice=notice, base=base)
        response = HTMLResponse(page, status, headers=_HEADERS)
        new = getattr(request.state, "new_session", None)
        if new is not None:
            self.set_cookie(request, response, new)
        return response

    def set_cookie(self, request: Request, response: Response, session_id: str) -> None:
        response.set_cookie(
            COOKIE,
            session_id,
            path=request.scope.get("root_path", "") or "/",
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie or request.url.scheme == "https",
        )

    def _page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            visitor = await self.visitor(request)
            visitor.require(READ, "the console")
            return await handler(request, visitor, self.domain(request))

        return endpoint

    def _action(self, handler: Handler, *scopes: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            visitor = await self.visitor(request, action=True)
            visitor.require(READ, "the console")
            for scope in (OPERATE, *scopes):
                visitor.require(scope, "this action")
            form = await form_of(request)
            visitor.check_action(request, form)
            request.state.form = form
            return await handler(request, visitor, self.domain(request))

        return endpoint

    @staticmethod
    def back(request: Request, *segments: object, done: str, **query: object) -> Response:
        base = request.scope.get("root_path", "")
        return RedirectResponse(url(base, *segments, done=done, **query), 303, headers=_HEADERS)

    # -- errors -----------------------------------------------------------------------------------

    async def denied(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessDenied)
        base = request.scope.get("root_path", "")
        scripted = "authorization" in request.headers or "x-api-key" in request.headers
        if not exc.authenticated and request.method == "GET" and not scripted:
            return RedirectResponse(f"{base}/login", 303, headers=_HEADERS)
        status = 403 if exc.authenticated else 401
        return self.html(
            request, "Not allowed", f'<p class="error" data-testid="error">{esc(exc.reason)}</p>', None, status
        )

    async def failed(self, request: Request, exc: Exception) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return self.html(
            request, "Could not do that", f'<p class="error" data-testid="error">{esc(exc)}</p>', None, status
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.html(request, exc.detail, "", None, exc.status_code)

    # -- sign in ----------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        if self.settings.auth is None:
            return RedirectResponse(f"{request.scope.get('root_path', '')}/", 303)
        return self.html(request, "Sign in", login_body(request.scope.get("root_path", "")), None)

    async def login(self, request: Request) -> Response:
        same_origin(request)
        form = await form_of(request)
        base = request.scope.get("root_path", "")
        for headers in credential_headers(form.get("credential", "")):
            try:
                principal = await principal_for(self.settings.auth, headers)
            except AccessDenied:
                continue
            if principal is None:
                continue
            if READ not in principal.scopes:
                raise AccessDenied(f"{principal.subject} may not use the console (needs {READ!r})", authenticated=True)
            session_id, _ = self.sessions.open(headers)
            log.info("console: %s signed in", principal.subject)
            response = RedirectResponse(f"{base}/", 303, headers=_HEADERS)
            self.set_cookie(request, response, session_id)
            return response
        body = '<p class="error" data-testid="error">That token or key is not valid.</p>' + login_body(base)
        return self.html(request, "Sign in", body, None, 401)

    async def logout(self, request: Request) -> Response:
        visitor = await self.visitor(request, action=True)
        visitor.check_action(request, await form_of(request))
        self.sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path=request.scope.get("root_path", "") or "/")
        return response

    # -- pages ------------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        visitor = await self.visitor(request)
        visitor.require(READ, "the console")
        base = request.scope.get("root_path", "")
        statuses: dict[str, Any] = {}
        for domain in self.domains.values():
            try:
                statuses[domain.name] = await domain.operations.status()
            except InterlinkError as exc:
                statuses[domain.name] = {"unavailable": str(exc)}
        traffic = await landscape_view.traffic(self.domains)
        blocks = []
        for domain in self.domains.values():
            status = statuses[domain.name]
            lags = landscape_view.replica_lags(status, traffic.get(domain.name), traffic)
            blocks.append(pages.status_block(domain.name, status, domain.circuits(), base, lags))
        return self.html(request, "Domains", Markup(f'<div class="domains">{"".join(blocks)}</div>'), visitor)

    async def _landscape(self, request: Request) -> tuple[Visitor, Landscape]:
        visitor = await self.visitor(request)
        visitor.require(READ, "the console")
        if self.landscape is None:
            raise HTTPException(404, "this console was given no landscape")
        return visitor, self.landscape

    async def diagram(self, request: Request) -> Response:
        visitor, landscape = await self._landscape(request)
        arrows = await landscape_view.figures(self.domains, landscape)
        source = url(request.scope.get("root_path", ""), "landscape", "figures")
        at = datetime.now(UTC)
        body = landscape_view.landscape_page(landscape, arrows, source, self.settings.refresh, at)
        return self.html(request, "Landscape", body, visitor)

    async def diagram_figures(self, request: Request) -> Response:
        """The landscape's figures per arrow as JSON, for the page's script (and for scripts)."""
        _, landscape = await self._landscape(request)
        arrows = await landscape_view.figures(self.domains, landscape)
        document = landscape_view.figures_document(arrows, datetime.now(UTC), self.settings.refresh)
        return JSONResponse(document, headers=_HEADERS)

    async def dead_letters(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        base, ops = request.scope.get("root_path", ""), domain.operations
        csrf = visitor.session.csrf if visitor.session else None
        group = request.query_params.get("group")
        if group:
            letters = await ops.dead_letters(group=group, limit=500)
            body = pages.group_page(domain.name, group, letters, base, csrf, visitor.may(OPERATE))
            return self.html(request, f"{domain.name}: dead letters of group {group[:12]}", body, visitor)
        body = pages.groups_page(domain.name, await ops.dead_letter_groups(), base, csrf, visitor.may(OPERATE))
        return self.html(request, f"{domain.name}: dead letters", body, visitor)

    async def letter(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        letter_id = request.path_params["id"]
        letter = await domain.operations.dead_letter(letter_id)
        csrf = visitor.session.csrf if visitor.session else None
        reveal = request.query_params.get("reveal") == "1"
        body = pages.letter_page(
            domain.name,
            letter,
            request.scope.get("root_path", ""),
            csrf,
            visitor.may(OPERATE),
            visitor.may(PAYLOADS),
            reveal,
        )
        return self.html(request, f"{domain.name}: dead letter {letter_id}", body, visitor)

    async def sagas(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        q = request.query_params
        try:
            older = float(q["older_than"]) if q.get("older_than") else None
        except ValueError:
            raise HTTPException(400, "older than: a number of seconds") from None
        found = await domain.operations.sagas(
            state=q.get("state") or None, definition=q.get("definition") or None, older_than=older, limit=200
        )
        body = pages.sagas_page(domain.name, found, request.scope.get("root_path", ""), dict(q))
        return self.html(request, f"{domain.name}: sagas", body, visitor)

    async def saga(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        saga_id = request.path_params["id"]
        timeline = await domain.operations.saga(saga_id)
        csrf = visitor.session.csrf if visitor.session else None
        body = pages.saga_page(
            domain.name, timeline, request.scope.get("root_path", ""), csrf, visitor.may(OPERATE), visitor.may(PAYLOADS)
        )
        return self.html(request, f"{domain.name}: saga {saga_id}", body, visitor)

    async def audit(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        entries = await domain.operations.audit(limit=200)
        return self.html(
            request, f"{domain.name}: audit log", pages.audit_page(entries, visitor.may(PAYLOADS)), visitor
        )

    # -- actions ----------------------------------------------------------------------------------

    async def replay(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        ids, reason = ids_of(request), reason_of(request)
        await domain.operations.replay(ids, actor=visitor.name, reason=reason)
        return self.back(request, domain.name, "dead-letters", done=f"replayed {count_of(ids)}")

    async def replay_group(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        fingerprint, reason = field(request, "fingerprint"), reason_of(request)
        await domain.operations.replay_group(fingerprint, actor=visitor.name, reason=reason)
        return self.back(request, domain.name, "dead-letters", done=f"replayed group {fingerprint[:12]}")

    async def discard(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        ids, reason = ids_of(request), reason_of(request)
        await domain.operations.discard(ids, actor=visitor.name, reason=reason)
        return self.back(request, domain.name, "dead-letters", done=f"discarded {count_of(ids)}")

    async def edit(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        letter_id, reason = request.path_params["id"], reason_of(request)
        try:
            payload = json.loads(field(request, "payload"))
        except ValueError as exc:
            raise HTTPException(400, f"the edited payload is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise HTTPException(400, "the edited payload must be a JSON object")
        new_id = await domain.operations.edit_and_replay(letter_id, payload, actor=visitor.name, reason=reason)
        return self.back(request, domain.name, "dead-letters", done=f"letter {letter_id} replayed as message {new_id}")

    async def saga_action(self, request: Request, visitor: Visitor, domain: ConsoleDomain) -> Response:
        saga_id, verb, reason = request.path_params["id"], request.path_params["verb"], reason_of(request)
        ops = domain.operations
        actions = {"retry": ops.retry_saga_step, "compensate": ops.compensate_saga, "abandon": ops.abandon_saga}
        if verb not in actions:
            raise HTTPException(404, f"no saga action {verb!r}")
        await actions[verb](saga_id, actor=visitor.name, reason=reason)
        return self.back(request, domain.name, "sagas", saga_id, done=f"saga {saga_id}: {verb} done")
