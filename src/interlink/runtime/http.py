"""Serving the domains' APIs with uvicorn inside the runtime's event loop."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.api_exposure.guards import RequestGuard
from interlink.patterns.api_exposure.problems import install_problem_handlers
from interlink.runtime.domain_runtime import DomainRuntime

__all__ = ["HttpEndpoint", "api_for", "make_server"]


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
    """One domain's API at the root, or several mounted under ``/<domain>``."""
    if len(runtimes) == 1:
        ((name, runtime),) = runtimes.items()
        return build_api(runtime.domain, lambda: runtime, settings)
    root = FastAPI(title="Interlink domains", docs_url=None, redoc_url=None, openapi_url=None)
    # A path outside every domain is answered like one inside: problem+json.
    install_problem_handlers(root)
    for name, runtime in runtimes.items():
        root.mount(f"/{name}", build_api(runtime.domain, lambda r=runtime: r, settings))  # type: ignore[misc]
    root.add_middleware(RequestGuard)
    return root


class _EmbeddedServer(uvicorn.Server):
    # The runtime owns SIGINT/SIGTERM: it stops consumers and flushes outboxes, then stops this server.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: FastAPI, endpoint: HttpEndpoint) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server that leaves signal handling to the runtime, and its socket, bound here so that a
    taken port is one clear error before anything starts."""
    config = uvicorn.Config(
        app, host=endpoint.host, port=endpoint.port, lifespan="off", log_level="warning", access_log=False
    )
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((endpoint.host, endpoint.port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot serve HTTP on {endpoint.host}:{endpoint.port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return _EmbeddedServer(config), sock
