"""``Landscape``: your domains running in-process, for tests of how they work together.

::

    async with Landscape([customer, loans]) as land:
        await land.execute(register_customer, RegisterCustomer(id="42", name="Ada"))
        await land.settle()                                   # events delivered, handlers done, outboxes empty
        assert (await land.query(get_copy, id="42")).name == "Ada"
        response = await land.http("customer").get("/customers/42")   # the domain's API, over ASGI

The domains are assembled by :class:`~interlink.runtime.Runtime`, as ``interlink run`` assembles them: the
same relays, consumers, inboxes, retry policies and deadline watches. The store and broker are in memory
unless URLs say otherwise (``store_url="postgresql://.../test?schema=t_{domain}"``, ``broker_url="nats://..."``).

What a landscape adds for tests:

- :meth:`settle` returns once every outbox is empty, every subscription has handled what it was sent, no
  retry is due and no deadline has passed; it waits on those conditions, never for a fixed time;
- a :class:`~interlink.testing.clock.ManualClock`: deadlines, retry backoff, transient budgets and circuit
  cooldowns move only with :meth:`advance`;
- duplicates and reordering on demand (:meth:`duplicate_next`, :meth:`reorder_next`);
- External Services answered in-process by the producer domain's real API (:attr:`services`), so a
  notification's fetch-back reads the producer's current version; :meth:`down` stops a domain for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar, overload

import httpx
from pydantic import BaseModel

from interlink.adapters.http import ClientPolicy, HttpExternalServices
from interlink.core.context import Context
from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.core.messages import Message
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.ports.store import Store
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.backends import open_broker
from interlink.runtime.settings import Retention
from interlink.testing.broker import ControlledBroker
from interlink.testing.clock import ManualClock
from interlink.testing.services import InProcessTransport

__all__ = ["Landscape"]

R = TypeVar("R")
In = TypeVar("In", bound=BaseModel)
Ctx = TypeVar("Ctx", bound=Context)

#: The default broker: in memory, and a fetched message stays with its consumer until the test's clock
#: releases its retry (a real minute must not redeliver it behind the clock's back).
MEMORY_BROKER = "memory://?visibility_timeout=86400"


async def _no_wait(seconds: float) -> None:
    """External Service backoff between attempts takes no time in a landscape (the clock is the test's)."""


async def _started() -> None:
    """Let the background tasks just created reach their first wait: a stop() that came before a task
    ever ran would be forgotten when it starts (its run() clears the stop flag)."""
    await asyncio.sleep(0)


class Landscape:
    """Domains in one process on one store URL and one broker, driven by a test (an async context manager).

    Args:
        domains: the domains to run (unique names).
        store_url: ``memory://`` by default; any store URL with ``{domain}`` (or a scoped one).
        broker_url: in memory by default; any broker URL.
        settings: the runtime's settings to start from (their store and broker URLs are replaced by the
            two above); by default no background pruning and short waits; never garbage-collector tuning.
        clock: the clock every domain reads; a fresh :class:`ManualClock` by default.
        services: which domain of the landscape answers each External Service (service name -> domain
            name); a service named like a domain of the landscape is answered by it without saying so.
        external: External Services of a domain given outright (domain name -> e.g. ``FakeExternalServices``).
        timeout: seconds :meth:`settle` waits before it raises ``TimeoutError`` naming what is still busy.
        api: the settings of the domains' APIs (authentication, limits); open routes by default.
    """

    def __init__(
        self,
        domains: Sequence[Domain],
        *,
        store_url: str = "memory://",
        broker_url: str = MEMORY_BROKER,
        settings: Settings | None = None,
        clock: ManualClock | None = None,
        services: Mapping[str, str] | None = None,
        external: Mapping[str, ExternalServices] | None = None,
        timeout: float = 10.0,
        api: ApiSettings | None = None,
    ) -> None:
        self.domains = {d.name: d for d in domains}
        if len(self.domains) != len(domains):
            raise ConfigurationError(f"domain names must be unique in a landscape, got {[d.name for d in domains]}")
        base = settings or Settings(retention=Retention(interval=None), fetch_wait=0.05, relay_poll_interval=0.05)
        # The garbage collector is the test process's, not the landscape's to tune.
        self.settings = dataclasses.replace(base, store_url=store_url, broker_url=broker_url, gc_threshold=None)
        #: The clock of every domain here; :meth:`advance` moves it.
        self.clock = clock or ManualClock()
        self.timeout = timeout
        #: Where the External Services' requests go: each domain's API, in-process (``fail``, ``calls_to``).
        self.services = InProcessTransport(self._app_of)
        self.broker = ControlledBroker(open_broker(broker_url), self.clock)
        self._api = api or ApiSettings()
        self._apps: dict[str, Any] = {}
        self._down: set[str] = set()
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._external: dict[str, ExternalServices] = dict(external or {})
        self._owned: list[HttpExternalServices] = []
        producers = dict(services or {})
        for domain in domains:
            if domain.name not in self._external and domain.external_services:
                self._owned.append(self._external_of(domain, producers))
                self._external[domain.name] = self._owned[-1]
        self._runtime = Runtime(domains, self.settings, clock=self.clock, broker=self.broker, external=self._external)

    def _external_of(self, domain: Domain, producers: Mapping[str, str]) -> HttpExternalServices:
        urls: dict[str, str] = {}
        for name in domain.external_services:
            producer = producers.get(name, name)
            if producer not in self.domains:
                raise ConfigurationError(
                    f"external service {name!r} of {domain.name!r}: no domain of the landscape serves it; "
                    f"add the producer domain, name it with services={{{name!r}: '<domain>'}}, or give "
                    f"external={{{domain.name!r}: FakeExternalServices()}}"
                )
            urls[name] = f"http://{producer}"
        policy = ClientPolicy(
            failure_threshold=self.settings.circuit_threshold, cooldown=self.settings.circuit_cooldown
        )
        return HttpExternalServices(
            list(domain.external_services.values()), base_urls=urls, environ={}, transport=self.services,
            policy=policy, clock=self.clock.monotonic, sleep=_no_wait,
        )  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> Landscape:
        for owned in self._owned:
            await owned.connect()
        try:
            await self._runtime.start()
        except BaseException:
            await self._close_external()
            raise
        await _started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await self._runtime.stop()
        await self._close_external()

    async def _close_external(self) -> None:
        for owned in self._owned:
            await owned.close()

    @contextlib.asynccontextmanager
    async def down(self, domain: str | Domain) -> AsyncIterator[None]:
        """Stop ``domain`` for the block (its consumers, relay and API; other domains' fetches to it are
        refused), then start it again on the same store; messages sent to it meanwhile wait for it."""
        name = self._name(domain)
        await self.stop(name)
        try:
            yield
        finally:
            await self.start(name)

    async def stop(self, domain: str | Domain) -> None:
        """Stop one domain (an outage) while the others run; :meth:`start` brings it back."""
        name = self._name(domain)
        self._down.add(name)
        self.broker.pause(name)
        await self._runtime.stop_domain(name)

    async def start(self, domain: str | Domain) -> None:
        """Start a domain stopped by :meth:`stop` again."""
        name = self._name(domain)
        await self._runtime.start_domain(name)
        await _started()
        self.broker.resume(name)
        self._down.discard(name)

    # -- the way in ------------------------------------------------------------------------------------

    def __getitem__(self, domain: str | Domain) -> DomainRuntime:
        """The running domain (its ``store``, ``consumers``, ``relay``...)."""
        return self._runtime[self._name(domain)]

    def store(self, domain: str | Domain) -> Store:
        """The store of ``domain``, for reading what it holds."""
        return self[domain].store

    @overload
    async def execute(
        self,
        command: Callable[[Ctx], Awaitable[R]],
        data: None = None,
        *,
        domain: str | Domain | None = None,
        correlation_id: str | None = None,
    ) -> R: ...
    @overload
    async def execute(
        self,
        command: Callable[[Ctx, In], Awaitable[R]],
        data: In | Mapping[str, Any],
        *,
        domain: str | Domain | None = None,
        correlation_id: str | None = None,
    ) -> R: ...
    async def execute(
        self,
        command: Callable[..., Awaitable[R]],
        data: Any = None,
        *,
        domain: str | Domain | None = None,
        correlation_id: str | None = None,
    ) -> R:
        """Run ``command`` in its domain (found from the declaration), ``data`` being its input model (an
        instance, or a dict validated into it); returns its result once committed."""
        runtime = self._runtime_of(command, CommandSpec, domain)
        return await runtime.execute(command, data, correlation_id=correlation_id)

    async def query(
        self,
        query: Callable[..., Awaitable[R]],
        *,
        domain: str | Domain | None = None,
        correlation_id: str | None = None,
        **params: Any,
    ) -> R:
        """Run ``query`` in its domain with ``params``."""
        return await self._runtime_of(query, QuerySpec, domain).query(query, correlation_id=correlation_id, **params)

    def http(self, domain: str | Domain) -> httpx.AsyncClient:
        """An HTTP client of ``domain``'s API (base URL ``http://<domain>``), served in-process over ASGI;
        closed with the landscape."""
        name = self._name(domain)
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = httpx.AsyncClient(transport=self.services, base_url=f"http://{name}")
        return client

    def app(self, domain: str | Domain) -> Any:
        """The ASGI application of ``domain``'s API (what ``interlink run --http`` serves)."""
        name = self._name(domain)
        if name not in self._apps:
            self._apps[name] = build_api(self.domains[name], lambda: self._runtime[name], self._api)
        return self._apps[name]

    def _app_of(self, host: str) -> Any:
        return None if host in self._down or host not in self.domains else self.app(host)

    # -- faults on demand ------------------------------------------------------------------------------

    def duplicate_next(self, count: int | None = 1, message: type[Message] | None = None) -> None:
        """Deliver each of the next ``count`` messages (of type ``message``, if given; None: every message
        from now on; 0: stop) twice, as a broker does when an ack is lost."""
        self.broker.duplicate_next(count, message.message_type() if message is not None else None)

    def reorder_next(self, count: int) -> None:
        """Publish the next ``count`` messages in reverse order."""
        self.broker.reorder_next(count)

    # -- time and quiet ----------------------------------------------------------------------------------

    async def advance(self, seconds: float | timedelta, *, settle: bool = True) -> None:
        """Move the clock forward: retries whose backoff passed are delivered, deadlines that passed time
        out; then (unless ``settle`` is False) wait until the landscape is quiet again."""
        self.clock.advance(seconds)
        if settle:
            await self.settle()
        else:
            await self.broker.release_due()

    async def settle(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a deadline the caller names
        """Return once the landscape is quiet: every outbox published, every message sent to a running
        domain handled (acked or parked), no retry due and no deadline passed by the clock.

        Retries whose backoff the clock has not reached yet wait for :meth:`advance`. Raises
        ``TimeoutError`` naming what is still busy after ``timeout`` seconds (the landscape's by default).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            # The deadline watches also tick on their own; this tick makes a deadline the clock passed fire
            # now, and a timeout committed by either is in an outbox before the quiet check below.
            fired = await self.broker.release_due() + await self._ticks()
            busy = await self._wait_quiet(deadline)
            if busy:
                raise TimeoutError(f"the landscape did not settle: {'; '.join(busy)}")
            if not fired and not await self.broker.flush_reordered():
                return

    async def _ticks(self) -> int:
        fired = 0
        for name in self.domains:
            if name not in self._down:
                for part in self[name].parts:
                    fired += await part.tick()
        return fired

    async def _wait_quiet(self, deadline: float) -> list[str]:
        loop = asyncio.get_running_loop()
        while True:
            self.broker.changed.clear()
            busy = await self.busy()
            if not busy or loop.time() >= deadline:
                return busy
            # A change seen by the broker wakes us at once; the short wait covers an outbox filling up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.broker.changed.wait(), min(0.01, max(0.0, deadline - loop.time())))

    async def busy(self) -> list[str]:
        """What is still moving (empty when quiet): outbox rows not yet published, messages not yet handled."""
        found = []
        for name in self.domains:
            if name in self._down:
                continue
            status = await self[name].store.outbox_status()
            if status.pending:
                found.append(f"outbox of {name}: {status.pending} row(s)")
        return found + self.broker.busy()

    # -- lookups -------------------------------------------------------------------------------------

    def _name(self, domain: str | Domain) -> str:
        name = domain if isinstance(domain, str) else domain.name
        if name not in self.domains:
            raise ConfigurationError(f"no domain {name!r} in this landscape; it has {sorted(self.domains)}")
        return name

    def _runtime_of(
        self, func: Callable[..., Any], kind: type[CommandSpec] | type[QuerySpec], domain: str | Domain | None
    ) -> DomainRuntime:
        what = "command" if kind is CommandSpec else "query"
        if domain is not None:
            return self[domain]
        owners = [name for name, d in self.domains.items() if isinstance(d.spec_of(func), kind)]
        if len(owners) != 1:
            label = getattr(func, "__qualname__", repr(func))
            where = f"declared by {owners}: say domain=" if owners else "declared by no domain of this landscape"
            raise ConfigurationError(f"{what} {label} is {where}")
        return self._runtime[owners[0]]
