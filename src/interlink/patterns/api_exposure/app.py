"""Building a domain's HTTP API from its declarations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from interlink.core.aggregate import Aggregate
from interlink.core.declarations import CommandSpec
from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.docs import add_docs
from interlink.patterns.api_exposure.exposure import served
from interlink.patterns.api_exposure.guards import RequestGuard
from interlink.patterns.api_exposure.health import HEALTH_PATHS, add_health_routes
from interlink.patterns.api_exposure.limits import BodyLimit
from interlink.patterns.api_exposure.problems import install_problem_handlers
from interlink.patterns.api_exposure.routes import _PLACEHOLDER, HostRef, add_command_route, add_query_route, route_of
from interlink.patterns.api_exposure.security import AnyOf, ApiKeyAuthenticator, Authenticator, JwtAuthenticator
from interlink.patterns.api_exposure.settings import ApiSettings

__all__ = ["build_api"]


def _no_host() -> object:
    raise ConfigurationError("this API was built for its specification only; no domain is running behind it")


def build_api(domain: Domain, host: HostRef | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """A FastAPI application exposing the domain's commands and queries (OpenAPI 3.1 at /openapi.json).

    ``host`` returns the running domain (e.g. ``lambda: runtime["loan-request"]``); without one the app
    can still produce its OpenAPI document. That document describes the API as a bank deploys it: behind
    authentication (bearer JWT or API key, whichever ``interlink run`` is given), at ``settings.servers``.
    """
    settings = settings or ApiSettings()
    about = domain.description or f"Commands and queries of the {domain.name} service domain."
    # Without a host the document is written for a deployment, which always authenticates (a server runs
    # open only on loopback); with one it says what this server checks.
    schemes = sorted(_schemes(settings.auth)) if settings.auth is not None or host is None else []
    servers = [{"url": url, "description": "Configured with --api-url."} for url in settings.servers]
    if not servers and host is None:
        servers = [{"url": "/", "description": _SERVED_AT}]
    app = FastAPI(
        title=settings.title or f"{domain.name} API",
        version=settings.version or domain.version,
        description=f"{about}\n\n{_limits(settings)}",
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
        servers=servers or None,
        license_info=domain.license or None,
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
            add_command_route(app, ref, spec, settings, schemes=schemes, location=_location(spec, seen))
        else:
            add_query_route(app, ref, spec, settings, schemes=schemes)
    add_health_routes(app, ref, settings, domain.name.replace("-", "_"))
    add_docs(app, app.title)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestGuard)
    _finish_document(app, schemes, domain.contact)
    return app


_SERVED_AT = (
    "Where `interlink run --http HOST:PORT` serves the domain: at the root when it is the only one served, "
    "else under `/<domain>`."
)

#: The tags every operation carries one of.
TAGS = [
    {"name": "commands", "description": "Change the domain's state; each runs in one transaction."},
    {"name": "queries", "description": "Read the domain's state; they change nothing."},
    {"name": "health", "description": "Probes for the platform: open, they reveal no data."},
]


def _location(spec: CommandSpec, routes: dict[tuple[str, str], str]) -> str | None:
    """For a ``POST /things`` returning an aggregate, the path of ``GET /things/{id}`` as a template."""
    method, path = route_of(spec)
    creates = isinstance(spec.result_type, type) and issubclass(spec.result_type, Aggregate)
    if method != "POST" or not creates or "{" in path:
        return None
    for verb, where in routes:
        head, _, last = where.rpartition("/")
        if verb == "GET" and head == path.rstrip("/") and _PLACEHOLDER.fullmatch(last):
            return f"{head}/{{}}"
    return None


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


def _finish_document(app: FastAPI, on: Sequence[str], contact: dict[str, str]) -> None:
    """Say in the OpenAPI document how to authenticate (the checks themselves run in each route), and whom
    to ask (the contact is set here: FastAPI's own check of its email needs a package the API does not)."""
    known = {
        "bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A JWT whose `scope` claim (or `scopes` list) holds the scopes an operation names.",
        },
        "apiKey": {
            "type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "An API key, given the scopes an operation names.",
        },
    }  # fmt: skip
    # Only the schemes that are on: a client (or a checker) offered bearer where only keys are read would
    # rightly wonder why a bad token is not refused.
    schemes = {name: scheme for name, scheme in known.items() if name in on}
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = _titled_schemas(build())
            if contact:
                document["info"] = {**document["info"], "contact": contact}
            if schemes:
                document.setdefault("components", {})["securitySchemes"] = schemes
                document["security"] = [{name: []} for name in schemes]
                for path in HEALTH_PATHS:
                    for operation in document["paths"].get(path, {}).values():
                        operation["security"] = []  # probes stay open
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _titled_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Name each schema by its title where pydantic mangled the name (``Page_Customer_`` is ``CustomerPage``,
    see :meth:`interlink.core.pagination.Page.model_parametrized_name`), every ``$ref`` to it following."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renamed = {
        key: schema["title"]
        for key, schema in schemas.items()
        if _IDENTIFIER.match(str(schema.get("title", ""))) and schema["title"] != key and schema["title"] not in schemas
    }
    if not renamed or len(set(renamed.values())) != len(renamed):
        return document
    text = json.dumps(document)
    for old, new in renamed.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    result: dict[str, Any] = json.loads(text)
    result["components"]["schemas"] = {renamed.get(k, k): v for k, v in result["components"]["schemas"].items()}
    return result


def _schemes(auth: Authenticator | None) -> set[str]:
    """The security schemes an authenticator reads; both for one this module does not know."""
    if isinstance(auth, AnyOf):
        return set().union(*(_schemes(a) for a in auth.authenticators))
    if isinstance(auth, JwtAuthenticator):
        return {"bearer"}
    if isinstance(auth, ApiKeyAuthenticator):
        return {"apiKey"}
    return {"bearer", "apiKey"}
