"""Building a domain's HTTP API from its declarations."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from interlink.core.declarations import CommandSpec
from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.docs import add_docs
from interlink.patterns.api_exposure.exposure import served
from interlink.patterns.api_exposure.guards import RequestGuard
from interlink.patterns.api_exposure.health import add_health_routes
from interlink.patterns.api_exposure.limits import BodyLimit
from interlink.patterns.api_exposure.problems import install_problem_handlers
from interlink.patterns.api_exposure.routes import HostRef, add_command_route, add_query_route, route_of
from interlink.patterns.api_exposure.security import AnyOf, ApiKeyAuthenticator, Authenticator, JwtAuthenticator
from interlink.patterns.api_exposure.settings import ApiSettings

__all__ = ["build_api"]


def _no_host() -> object:
    raise ConfigurationError("this API was built for its specification only; no domain is running behind it")


def build_api(domain: Domain, host: HostRef | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """A FastAPI application exposing the domain's commands and queries (OpenAPI 3.1 at /openapi.json).

    ``host`` returns the running domain (e.g. ``lambda: runtime["loan-request"]``); without one the app
    can still produce its OpenAPI document.
    """
    settings = settings or ApiSettings()
    about = domain.description or f"Commands and queries of the {domain.name} service domain."
    app = FastAPI(
        title=settings.title or f"{domain.name} API",
        version=settings.version,
        description=f"{about}\n\n{_limits(settings)}",
        docs_url=None,
        redoc_url=None,
    )
    ref: HostRef = host or _no_host  # type: ignore[assignment]
    install_problem_handlers(app)
    seen: dict[tuple[str, str], str] = {}
    specs = served(domain)
    for spec in specs:
        route = route_of(spec)
        if route in seen:
            raise ConfigurationError(f"{spec.name!r} and {seen[route]!r} both declare {' '.join(route)}")
        seen[route] = spec.name
    for spec in specs:
        if isinstance(spec, CommandSpec):
            add_command_route(app, ref, spec, settings)
        else:
            add_query_route(app, ref, spec, settings)
    add_health_routes(app, ref, settings)
    add_docs(app, app.title)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestGuard)
    if settings.auth is not None:
        _document_security(app, settings)
    return app


def _limits(settings: ApiSettings) -> str:
    """The limits every route enforces, as the document's description states them."""
    return (
        f"Limits: a request body is JSON (else 415) of at most {settings.max_body_bytes} bytes (else 413); a "
        f"request takes at most {settings.request_timeout:g} s (else 504); strings never hold U+0000 and paths "
        "never hold control characters (422, 404). Idempotency-Key: one header of 1 to 200 visible characters "
        "(else 400); a key whose request is still running answers 409, and is free again "
        f"{settings.idempotency_lease:g} s after the process running it stopped. "
        "If-Match takes a strong ETag (a weak one never matches: 412)."
    )


def _document_security(app: FastAPI, settings: ApiSettings) -> None:
    """Say in the OpenAPI document how to authenticate (the checks themselves run in each route)."""
    known = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    # Only the schemes that are on: a client (or a checker) offered bearer where only keys are read would
    # rightly wonder why a bad token is not refused.
    on = _schemes(settings.auth)
    schemes = {name: scheme for name, scheme in known.items() if name in on}
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {})["securitySchemes"] = schemes
            document["security"] = [{name: []} for name in schemes]
            for path in ("/healthz", "/readyz"):
                for operation in document["paths"].get(path, {}).values():
                    operation["security"] = []  # probes stay open
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _schemes(auth: Authenticator | None) -> set[str]:
    """The security schemes an authenticator reads; both for one this module does not know."""
    if isinstance(auth, AnyOf):
        return set().union(*(_schemes(a) for a in auth.authenticators))
    if isinstance(auth, JwtAuthenticator):
        return {"bearer"}
    if isinstance(auth, ApiKeyAuthenticator):
        return {"apiKey"}
    return {"bearer", "apiKey"}
