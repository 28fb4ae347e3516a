"""A scripted day at the reference bank: all six domains in one process, on any store and broker.

Customers arrive by file, loan requests over real HTTP (the domains' APIs served by uvicorn in this process,
the way ``interlink run --http`` serves them), each starts a loan origination saga with credit-offer and sends
SMS by command event, a customer moves a hundred times, the SMS service goes down and comes back, the
mainframe's repayments extract arrives. Each step is narrated naming the pattern at work (the steps are in
:mod:`examples.bank.script_steps`); at the end the domains' stores are counted and compared with what the
script put in (:mod:`examples.bank.script_counts`).

:func:`run_day` hosts the six domains in this process and drives them; :func:`run_day_against` drives six
domains already running elsewhere (``interlink run examples.bank.<module> --http ...``, one process each).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from examples.bank import DOMAINS
from examples.bank.customer_communication import customer_communication
from examples.bank.script import DayFailed, DayPlan, Landscape, Narrator, Outage, Script, eventually
from examples.bank.script_steps import play
from examples.bank.tally import Count
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.ports.broker import Broker
from interlink.ports.store import Store
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.runtime.http import HttpEndpoint, make_server

__all__ = ["DayFailed", "DayPlan", "DayResult", "Narrator", "Outage", "run_day", "run_day_against"]


@dataclass
class DayResult:
    """The counts (expected by the script, found in the stores) and how long the day took."""

    counts: list[Count]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every store holds exactly what the script put in."""
        return all(c.ok for c in self.counts)


class _SmsService:
    """``customer_communication`` hosted on its own beside the Runtime of the five others, so the day can stop
    it (the outage) and start it again on the same store and broker."""

    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.settings, self.broker = settings, broker
        self.runtime: DomainRuntime | None = None

    async def start(self) -> None:
        store = open_store(self.settings.store_url, customer_communication.name)
        self.runtime = DomainRuntime(customer_communication, store, self.broker, self.settings)
        await self.runtime.start()

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    def current(self) -> DomainRuntime:
        if self.runtime is None:
            raise DayFailed("the SMS service is down")
        return self.runtime


async def run_day(
    workdir: Path,
    *,
    store_url: str | None = None,
    broker_url: str | None = None,
    plan: DayPlan | None = None,
    narrate: Narrator = lambda pattern, domain, text: None,
) -> DayResult:
    """Run the day with ``workdir`` as working directory (the inbound directories are relative to it); the
    stores and broker default to SQLite files there (the embedded default)."""
    workdir = await asyncio.to_thread(_prepared, workdir)
    root = FastAPI(title="The reference bank", docs_url=None, redoc_url=None)
    server, sock = make_server(root, HttpEndpoint("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        store_url=store_url or f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=broker_url or f"sqlite:///{workdir}/broker.db",
        service_urls={"customer": f"{base}/customer"},
        relay_poll_interval=0.2,
        fetch_wait=0.2,
    )
    others = [d for d in DOMAINS if d is not customer_communication]
    started = time.perf_counter()
    with contextlib.closing(sock), contextlib.chdir(workdir):
        async with Runtime(others, settings) as rt, _stores(settings.store_url) as stores:
            sms = _SmsService(settings, rt.broker)
            await sms.start()
            try:
                for domain in others:
                    root.mount(f"/{domain.name}", build_api(domain, _getter(rt[domain.name]), ApiSettings()))
                root.mount(f"/{customer_communication.name}", build_api(customer_communication, sms.current))
                urls = {d.name: f"{base}/{d.name}" for d in DOMAINS}
                land = Landscape(urls, stores, workdir, Outage(sms.stop, sms.start))
                async with _serving(server, sock):
                    narrate("API Exposure", "all six", f"the domains' APIs are served at {base}/<domain>")
                    counts = await _drive(land, plan or DayPlan(), narrate)
            finally:
                await sms.stop()
    return DayResult(counts, time.perf_counter() - started)


async def run_day_against(
    workdir: Path,
    urls: Mapping[str, str],
    store_url: str,
    outage: Outage,
    *,
    plan: DayPlan | None = None,
    narrate: Narrator = lambda pattern, domain, text: None,
) -> DayResult:
    """Drive the six domains running in other processes: ``urls`` maps each domain name to its API's base URL,
    ``workdir`` is their working directory, ``store_url`` (with ``{domain}``) where their stores are, and
    ``outage`` stops and starts the process of ``customer-communication``."""
    missing = sorted({d.name for d in DOMAINS} - set(urls))
    if missing:
        raise DayFailed(f"no API URL for domain(s) {missing}")
    started = time.perf_counter()
    async with _stores(store_url) as stores:
        land = Landscape(urls, stores, await asyncio.to_thread(_prepared, workdir), outage)
        counts = await _drive(land, plan or DayPlan(), narrate)
    return DayResult(counts, time.perf_counter() - started)


@contextlib.asynccontextmanager
async def _stores(store_url: str) -> AsyncIterator[dict[str, Store]]:
    """Each domain's store, opened for the day's own reads (whatever runs the domains)."""
    stores = {d.name: open_store(store_url, d.name) for d in DOMAINS}
    async with contextlib.AsyncExitStack() as stack:
        for store in stores.values():
            await stack.enter_async_context(store)
        yield stores


async def _drive(land: Landscape, plan: DayPlan, narrate: Narrator) -> list[Count]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        return await play(Script(land, http, plan, narrate))


def _getter(runtime: DomainRuntime) -> Callable[[], DomainRuntime]:
    return lambda: runtime


def _prepared(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir.resolve()


@contextlib.asynccontextmanager
async def _serving(server: uvicorn.Server, sock: Any) -> AsyncIterator[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bank-http")
    try:
        await eventually(lambda: _true(server.started or task.done()), 15, "the HTTP server to start")
        if task.done():
            task.result()
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


async def _true(condition: bool) -> bool | None:
    return True if condition else None
