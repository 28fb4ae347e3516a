"""Serving the console: beside the APIs of a runtime, or alone for a process that only watches."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Mapping, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from interlink.console.app import ConsoleSettings, build_console
from interlink.console.backend import ConsoleDomain
from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.operations import FlowMeter, Operations
from interlink.ports.broker import Broker
from interlink.runtime import Runtime
from interlink.runtime.backends import open_broker, open_store, redact
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.host import Extension
from interlink.runtime.http import HttpEndpoint, make_server
from interlink.specs import collect
from interlink.specs.landscape import Landscape, build_landscape

__all__ = ["PATH", "beside", "circuits_of", "console_extension", "refuse_unauthenticated", "watch"]

log = logging.getLogger("interlink.console")

#: Where the console is served.
PATH = "/console"


def beside(console: ASGIApp, api: ASGIApp | None = None) -> Starlette:
    """One application: the console under ``/console`` and the APIs (if any) at the root.

    The console is routed before the APIs' own middleware, which takes JSON bodies only; the console's
    forms are URL-encoded.
    """

    async def to_console(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{PATH}/", 307)

    routes: list[Route | Mount] = [Route(PATH, to_console), Mount(PATH, console)]
    routes.append(Mount("/", api) if api is not None else Route("/", to_console))
    return Starlette(routes=routes)


def circuits_of(runtime: DomainRuntime) -> Mapping[str, str]:
    """The state of each External Service circuit of a domain running here (closed, open, half-open)."""
    circuit = getattr(runtime.external, "circuit", None)
    if circuit is None:
        return {}
    states: dict[str, str] = {}
    for name in runtime.domain.external_services:
        try:
            states[name] = circuit(name).state
        except ConfigurationError:
            states[name] = "no endpoint"
    return states


def refuse_unauthenticated(endpoint: HttpEndpoint, authenticated: bool) -> None:
    """ConfigurationError for a console on a non-loopback address without authentication: it shows and
    replays messages, so no option lets it be served open to the network."""
    if not authenticated and not endpoint.loopback:
        raise ConfigurationError(
            f"refusing to serve the console on {endpoint.host}:{endpoint.port} without authentication: configure "
            "--jwt-secret/--jwks-file or --api-keys (--insecure does not apply to the console)"
        )


def landscape_of(domains: Sequence[Domain]) -> Landscape:
    """The landscape diagram's boxes and arrows for the console's domains."""
    return build_landscape([collect(d) for d in domains])


def console_extension(settings: ConsoleSettings) -> Extension:
    """For :meth:`Runtime.serve`: the console of the runtime's domains under ``/console``, beside the APIs."""

    def extend(runtime: Runtime, api: ASGIApp) -> ASGIApp:
        domains = []
        meter = FlowMeter()  # the landscape's message rates: what each hosted domain commits to its outbox
        for domain in runtime.domains:
            hosted = runtime[domain.name]
            hosted.on_commit(meter.listener(domain.name))
            operations = Operations(domain, hosted.store, hosted.broker, clock=hosted.clock, meter=meter)
            domains.append(ConsoleDomain(domain.name, operations, functools.partial(circuits_of, hosted), live=True))
        log.info("console on %s/", PATH)
        return beside(build_console(domains, settings, landscape_of(runtime.domains)), api)

    return extend


async def watch(
    domains: Sequence[Domain], store_url: str, broker_url: str | None, endpoint: HttpEndpoint,
    settings: ConsoleSettings,
) -> None:  # fmt: skip
    """Serve the console of ``domains`` from their stores (and a broker, so replays are published at once)
    until SIGINT or SIGTERM; no consumer or relay runs here."""
    refuse_unauthenticated(endpoint, settings.auth is not None)
    broker: Broker | None = open_broker(broker_url) if broker_url else None
    operations: list[Operations] = []
    async with contextlib.AsyncExitStack() as stack:
        if broker is not None:
            await broker.connect()
            stack.push_async_callback(broker.close)
        for domain in domains:
            store = open_store(store_url, domain.name)
            await store.connect()
            stack.push_async_callback(store.close)
            ops = Operations(domain, store, broker)
            stack.push_async_callback(ops.close)
            operations.append(ops)
        console = build_console([ConsoleDomain(o.domain.name, o) for o in operations], settings, landscape_of(domains))
        server, sock = make_server(beside(console), endpoint)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        log.info("console of %s on http://%s:%d%s/ (store %s)", ", ".join(d.name for d in domains), endpoint.host,
                 sock.getsockname()[1], PATH, redact(store_url))  # fmt: skip
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        waiting.cancel()
        await serving
