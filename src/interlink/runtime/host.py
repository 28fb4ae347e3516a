"""The runtime: one process hosting one or several domains on a store URL and a broker URL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Mapping, Sequence

from starlette.types import ASGIApp

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure import ApiSettings
from interlink.ports.broker import Broker
from interlink.runtime.backends import open_broker, open_store, redact
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.gauges import StoreGauges
from interlink.runtime.http import HttpEndpoint, api_for, make_server
from interlink.runtime.settings import Settings
from interlink.runtime.startup import Backoff, until_ready

__all__ = ["Extension", "Runtime"]

log = logging.getLogger("interlink.runtime")
#: Given the started runtime and the APIs' application, the application to serve.
Extension = Callable[["Runtime", ASGIApp], ASGIApp]


class Runtime:
    """Starts the domains' relays and consumers on one shared broker connection; stops them gracefully.

    ::

        async with Runtime([customers, loans], Settings(broker_url="sqlite:///bus.db")) as rt:
            await rt["loan-request"].execute(submit, {...})
    """

    def __init__(
        self,
        domains: Sequence[Domain],
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        startup_timeout: float = 0.0,
        broker: Broker | None = None,
        external: Mapping[str, ExternalServices] | None = None,
    ):
        if not domains:
            raise ConfigurationError("a runtime needs at least one domain")
        names = [d.name for d in domains]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"domain names must be unique, got {names}")
        self.settings = settings or Settings()
        #: Seconds :meth:`start` waits for a broker, store or inbound folder that is not ready yet, retrying
        #: with backoff and logging each wait (0: the first failure is raised; see ``runtime.startup``).
        self.startup_timeout = startup_timeout
        if startup_timeout < 0:
            raise ConfigurationError(f"the start-up timeout must not be negative, got {startup_timeout:g}")
        # Building adapters does no I/O; it checks the URLs before anything starts.
        self._stores = {d.name: open_store(self.settings.store_url, d.name) for d in domains}
        # ``broker`` and ``external`` (by domain name) replace what the settings' URLs would build: the test
        # kit's Landscape passes a broker that injects duplicates and in-process External Services.
        self._broker_candidate = broker if broker is not None else open_broker(self.settings.broker_url)
        self._external = dict(external or {})
        shared = "{domain}" not in self.settings.store_url
        if len(domains) > 1 and shared and not all(s.domain_scoped for s in self._stores.values()):
            raise ConfigurationError(
                f"store URL {redact(self.settings.store_url)!r} makes {len(domains)} domains share one "
                "database; put {domain} in it (e.g. sqlite:///data/{domain}.db) so each keeps its own data"
            )
        self.domains = list(domains)
        self._clock = clock
        self._broker: Broker | None = None
        self._runtimes: dict[str, DomainRuntime] = {}
        self._gauges: StoreGauges | None = None
        self._down: set[str] = set()

    def __getitem__(self, name: str) -> DomainRuntime:
        try:
            return self._runtimes[name]
        except KeyError:
            raise KeyError(f"no domain {name!r} is running here; running: {sorted(self._runtimes)}") from None

    @property
    def broker(self) -> Broker:
        """The shared broker (connected while the runtime runs)."""
        if self._broker is None:
            raise ConfigurationError("the runtime is not started")
        return self._broker

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect everything and start each domain; on failure, undo what was started.

        A dependency that is not ready is waited for up to ``startup_timeout`` seconds (see
        :mod:`interlink.runtime.startup`); a configuration error fails at once.
        """
        broker, stores = self._broker_candidate, self._stores
        backoff = Backoff(self.startup_timeout)
        await until_ready(f"the broker at {redact(self.settings.broker_url)}", broker.connect, backoff)
        self._broker = broker
        try:
            for domain in self.domains:
                runtime = self._host(domain)
                self._runtimes[domain.name] = runtime
                what = f"the store of {domain.name} at {redact(stores[domain.name].url)} (and its subscription)"
                await until_ready(what, runtime.prepare, backoff)
                for part in runtime.parts:
                    await until_ready(f"{part.needs} of {domain.name}", part.ready, backoff)
            # Every subscription exists before any relay publishes: a broker that fans out at publish
            # time would otherwise never deliver the first events to a domain hosted here.
            for runtime in self._runtimes.values():
                await runtime.start()
            self._gauges = StoreGauges(self._runtimes.values(), self.settings.metrics_interval)
            self._gauges.start()
            if self.settings.gc_threshold is not None:
                gc.freeze()
                gc.set_threshold(self.settings.gc_threshold, *gc.get_threshold()[1:])
        except BaseException:
            await self.stop()
            raise

    def _host(self, domain: Domain) -> DomainRuntime:
        return DomainRuntime(
            domain,
            self._stores[domain.name],
            self.broker,
            self.settings,
            clock=self._clock,
            external=self._external.get(domain.name),
        )

    async def stop_domain(self, name: str) -> None:
        """Stop one hosted domain (an outage of that service) while the others keep running."""
        runtime = self[name]
        if name not in self._down:
            self._down.add(name)
            await runtime.stop()

    async def start_domain(self, name: str) -> None:
        """Start a domain stopped by :meth:`stop_domain` again, on the same store and broker."""
        if name in self._down:
            runtime = self._runtimes[name] = self._host(self[name].domain)
            await runtime.start()
            self._down.discard(name)

    async def stop(self) -> None:
        """Stop consumers (finishing messages in hand), flush outboxes, close connections."""
        if self._gauges is not None:
            await self._gauges.stop()
            self._gauges = None
        running = [r for name, r in self._runtimes.items() if name not in self._down]
        await asyncio.gather(*(r.stop() for r in running), return_exceptions=True)
        self._runtimes.clear()
        self._down.clear()
        if self._broker is not None:
            await self._broker.close()
            self._broker = None

    async def serve(
        self,
        http: HttpEndpoint | None = None,
        api: ApiSettings | None = None,
        *,
        extend: Extension | None = None,
        on_running: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """Run (and serve the APIs on ``http``) until SIGINT or SIGTERM, then stop gracefully.

        ``extend`` is given the started runtime and the APIs' application, and returns the application to
        serve instead (``interlink run --console`` mounts the console beside the APIs this way).
        ``on_running`` is called once everything started, with a function that stops the runtime as a
        signal would (a worker process tells its supervisor it runs, and stops when the supervisor is gone).

        A signal that comes while start-up still waits for a dependency ends the wait and the process.
        """
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        starting = asyncio.create_task(self.start(), name="start-up")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()  # start() undoes what it started
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            log.info("stopped during start-up")
            return
        stopping.cancel()
        starting.result()
        try:
            log.info("running %s", ", ".join(d.name for d in self.domains))
            if http is None:
                if on_running is not None:
                    on_running(stop.set)
                await stop.wait()
            else:
                app: ASGIApp = api_for(self._runtimes, api or ApiSettings())
                server, sock = make_server(app if extend is None else extend(self, app), http)
                if on_running is not None:  # the socket is bound: connections wait in its backlog
                    on_running(stop.set)
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                waiting = asyncio.create_task(stop.wait())
                await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
                server.should_exit = True
                waiting.cancel()
                await serving
            log.info("stopping: finishing messages in hand and flushing outboxes")
        finally:
            await self.stop()
