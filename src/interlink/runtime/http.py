"""Serving the domains' APIs with uvicorn inside the runtime's event loop."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp

from interlink.adapters.http.config import ServiceEndpoint, env_var, redact
from interlink.core.domain import Domain
from interlink.core.external import ExternalService
from interlink.exceptions import ConfigurationError
from interlink.observability.access_log import AccessLog
from interlink.observability.metrics import CONTENT_TYPE, prometheus_text, readings
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.api_exposure.docs import docs_index
from interlink.patterns.api_exposure.exposure import served
from interlink.patterns.api_exposure.guards import RequestGuard
from interlink.patterns.api_exposure.health import readiness
from interlink.patterns.api_exposure.problems import install_problem_handlers
from interlink.runtime.domain_runtime import DomainRuntime

__all__ = ["HttpEndpoint", "api_for", "local_service_urls", "log_services", "make_server", "service_urls_across"]

log = logging.getLogger("interlink.runtime")
_PARAM = re.compile(r"{[^}]*}")


@dataclass(frozen=True)
class HttpEndpoint:
    """Where to serve, parsed from ``HOST:PORT``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> HttpEndpoint:
        """``127.0.0.1:8000``, ``[::1]:8000``, ``localhost:8000`` or ``0.0.0.0:8000``."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigurationError(f"--http {text!r}: write HOST:PORT, e.g. 127.0.0.1:8000")
        return cls(host.strip("[]"), int(port))

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the address."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise ConfigurationError(f"--http {self.host}: cannot resolve it ({exc})") from exc
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def api_for(runtimes: dict[str, DomainRuntime], settings: ApiSettings) -> FastAPI:
    """One domain's API at the root, or several mounted under ``/<domain>``; with the access log if asked."""
    app = _api_for(runtimes, settings)
    if settings.access_log:
        app.add_middleware(AccessLog)
    return app


def _api_for(runtimes: dict[str, DomainRuntime], settings: ApiSettings) -> FastAPI:
    if len(runtimes) == 1:
        ((name, runtime),) = runtimes.items()
        return _with_metrics(build_api(runtime.domain, lambda: runtime, settings))
    root = FastAPI(title="Interlink domains", docs_url=None, redoc_url=None, openapi_url=None)
    # A path outside every domain is answered like one inside: problem+json.
    install_problem_handlers(root)
    _add_root_routes(root, runtimes, settings)
    for name, runtime in runtimes.items():
        root.mount(f"/{name}", build_api(runtime.domain, lambda r=runtime: r, settings))  # type: ignore[misc]
    root.add_middleware(RequestGuard)
    return _with_metrics(root)


def _with_metrics(app: FastAPI) -> FastAPI:
    """``GET /metrics``: Prometheus text, when metrics are on (docs/observability.md); unauthenticated,
    like the probes, so a scraper needs no token: it names no customer data, only counts."""
    if readings() is not None:

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(prometheus_text(), media_type=CONTENT_TYPE)

    return app


def _add_root_routes(root: FastAPI, runtimes: dict[str, DomainRuntime], settings: ApiSettings) -> None:
    """Probes for the whole process (what a Kubernetes probe calls) and an index of the domains' docs."""

    @root.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @root.get("/readyz")
    async def readyz() -> JSONResponse:
        found = {name: await readiness(runtime, settings) for name, runtime in runtimes.items()}
        ready = all(ok for ok, _ in found.values())
        domains = {name: {"status": "ready" if ok else "not ready", "checks": c} for name, (ok, c) in found.items()}
        return JSONResponse({"status": "ready" if ready else "not ready", "domains": domains}, 200 if ready else 503)

    @root.get("/docs")
    async def docs() -> HTMLResponse:
        return docs_index(list(runtimes))


def _producer(service: ExternalService[object], domains: Sequence[Domain]) -> Domain | None:
    """The domain of this process that serves the service's resource (a GET route of the same shape)."""
    shape = _PARAM.sub("{}", service.resource.split("?", 1)[0])
    found = [
        d for d in domains if any(spec.http and _PARAM.sub("{}", spec.http) == f"GET {shape}" for spec in served(d))
    ]
    if len(found) == 1:
        return found[0]
    return next((d for d in domains if d.name == service.name), None)


def local_service_urls(
    domains: Sequence[Domain], endpoint: HttpEndpoint | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Base URLs of the external services whose producing domain runs in this process and serves on
    ``endpoint``: the process's own address, unless ``INTERLINK_SERVICE_<NAME>_URL`` says otherwise."""
    return {} if endpoint is None else service_urls_across([(domains, endpoint)], environ)


def service_urls_across(
    groups: Sequence[tuple[Sequence[Domain], HttpEndpoint]], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Base URLs of the external services whose producing domain is in one of ``groups``, each group of
    domains served together on its endpoint (one process, or one worker of ``interlink run --workers``)."""
    environ = os.environ if environ is None else environ
    everywhere = [d for domains, _ in groups for d in domains]
    urls: dict[str, str] = {}
    for domain in everywhere:
        for service in domain.external_services.values():
            producer = _producer(service, everywhere)
            if producer is None or environ.get(env_var(service.name, "URL")):
                continue
            domains, endpoint = next(g for g in groups if producer in g[0])
            host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(endpoint.host, endpoint.host)
            origin = f"http://{f'[{host}]' if ':' in host else host}:{endpoint.port}"
            url = origin + (f"/{producer.name}" if len(domains) > 1 else "")
            if urls.setdefault(service.name, url) != url:
                raise ConfigurationError(
                    f"external service {service.name!r} names different domains of this process: set "
                    f"{env_var(service.name, 'URL')}"
                )
    return urls


def log_services(
    domains: Sequence[Domain], service_urls: Mapping[str, str], *, authenticated: bool,
    environ: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """Log where each External Service points, and warn of one without a credential when the APIs here
    require authentication (its fetch-backs would be refused with 401 and end as dead letters)."""
    environ = os.environ if environ is None else environ
    for domain in domains:
        for service in domain.external_services.values():
            urls = {k: v for k, v in service_urls.items() if k == service.name}
            try:
                endpoint = ServiceEndpoint.resolve(service, urls, environ)
            except ConfigurationError:
                continue  # the runtime reports it when it starts
            url_var = env_var(service.name, "URL")
            source = url_var if environ.get(url_var) else "this process" if urls else "its declaration (a default)"
            log.info(
                "%s: external service %r at %s (from %s)", domain.name, service.name, redact(endpoint.base_url), source
            )
            if authenticated and not {"authorization", "x-api-key"} & {h.lower() for h in endpoint.headers}:
                log.warning(
                    "%s: external service %r has no credential while authentication is on: set %s or %s",
                    domain.name, service.name, env_var(service.name, "API_KEY"), env_var(service.name, "TOKEN"),
                )  # fmt: skip


class _EmbeddedServer(uvicorn.Server):
    # The runtime owns SIGINT/SIGTERM: it stops consumers and flushes outboxes, then stops this server.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: ASGIApp, endpoint: HttpEndpoint) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server that leaves signal handling to the runtime, and its socket, bound here so that a
    taken port is one clear error before anything starts."""
    config = uvicorn.Config(
        app, host=endpoint.host, port=endpoint.port, lifespan="off", log_level="warning", access_log=False
    )
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket
    # says TCP. With it on, a response written as two sends (head, then body) waits for the client's delayed
    # ACK of the first: ~40 ms per request on a keep-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((endpoint.host, endpoint.port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot serve HTTP on {endpoint.host}:{endpoint.port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return _EmbeddedServer(config), sock
