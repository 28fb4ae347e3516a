"""Building a domain's HTTP API from its declarations."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.health import add_health_routes
from interlink.patterns.api_exposure.limits import BodyLimit
from interlink.patterns.api_exposure.problems import install_problem_handlers
from interlink.patterns.api_exposure.routes import HostRef, add_command_route, add_query_route, route_of
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
    app = FastAPI(
        title=settings.title or f"{domain.name} API",
        version=settings.version,
        description=domain.description or f"Commands and queries of the {domain.name} service domain.",
        docs_url="/docs",
        redoc_url=None,
    )
    ref: HostRef = host or _no_host  # type: ignore[assignment]
    install_problem_handlers(app)
    seen: dict[tuple[str, str], str] = {}
    specs: list[CommandSpec | QuerySpec] = [*domain.commands.values(), *domain.queries.values()]
    for spec in specs:
        route = route_of(spec)
        if route in seen:
            raise ConfigurationError(f"{spec.name!r} and {seen[route]!r} both declare {' '.join(route)}")
        seen[route] = spec.name
    for command in domain.commands.values():
        add_command_route(app, ref, command, settings)
    for query in domain.queries.values():
        add_query_route(app, ref, query, settings)
    add_health_routes(app, ref, settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.auth is not None:
        _document_security(app, settings)
    return app


def _document_security(app: FastAPI, settings: ApiSettings) -> None:
    """Say in the OpenAPI document how to authenticate (the checks themselves run in each route)."""
    schemes = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {})["securitySchemes"] = schemes
            document["security"] = [{"bearer": []}, {"apiKey": []}]
            for path in ("/healthz", "/readyz"):
                for operation in document["paths"].get(path, {}).values():
                    operation["security"] = []  # probes stay open
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
