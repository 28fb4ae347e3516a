"""State Change Notification and deferred update end to end, on every store x broker pair.

The customer domain runs in its own Runtime and serves its API for real (uvicorn on 127.0.0.1, built as
``Runtime.serve`` builds it); ``loans`` (eager) and ``pricing`` (deferred) run in a second Runtime whose
external service ``customer`` points at that API. Notifications travel through the customer's outbox,
the broker and the consumers' inboxes; every fetch is a real HTTP GET.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from interlink.adapters.http import ClientPolicy, HttpExternalServices
from interlink.delivery.retry import RetryPolicy
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.notification import subscription_figures
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.backends import open_broker, open_store
from interlink.runtime.http import api_for
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.notifications import customer, loans, pricing, rename
from tests.support.uvicorn_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
SUBSCRIPTION = "customer.CustomerChanged"
IDS = [f"C{i}" for i in range(5)]
ROUNDS = 3  # each customer changes three times: versions 1, 2, 3


def settings(backends: Backends, **more: Any) -> Settings:
    return Settings(
        store_url=backends.store, broker_url=backends.broker, relay_poll_interval=0.1, fetch_wait=0.1, **more
    )


async def test_notification_and_deferred_update_end_to_end(backends: Backends) -> None:
    """Eager copies follow every change; deferred copies are fetched once each, on the first read."""
    final = {id: (f"{id} v{ROUNDS}", ROUNDS) for id in IDS}
    async with Runtime([customer], settings(backends)) as source:
        app = api_for({"customer": source["customer"]}, ApiSettings())
        async with LiveServer(app) as server:
            consumer_settings = settings(backends, service_urls={"customer": server.url})
            async with Runtime([loans.domain, pricing.domain], consumer_settings) as rt:
                for version in range(1, ROUNDS + 1):
                    for id in IDS:
                        await source["customer"].execute(rename, {"id": id, "name": f"{id} v{version}"})
                loan_kind, pricing_kind = loans.copy.aggregate_name(), pricing.copy.aggregate_name()

                async def eager_done() -> bool:
                    return await copies_of(rt["loans"], loan_kind) == final

                await wait_until(eager_done, timeout=60, what="loans copies at the final versions")
                received = len(IDS) * ROUNDS
                stats = rt["pricing"].consumers[0].stats
                await wait_until(lambda: stats.processed >= received, timeout=60, what="pricing notifications")
                assert await copies_of(rt["pricing"], pricing_kind) == {}  # deferred: nothing fetched yet
                names = await asyncio.gather(
                    *(rt["pricing"].query(pricing.customer_name, id=id) for id in IDS for _ in range(2))
                )
                assert names == [final[id][0] for id in IDS for _ in range(2)]
                assert await copies_of(rt["pricing"], pricing_kind) == final
                assert await rt["loans"].store.dead_letters() == []
    # The runtimes stopped (read counters flushed): a separate process reads the counters and advises.
    async with open_store(backends.store, "pricing") as store:
        figures = await subscription_figures(store, pricing.domain.notifications[SUBSCRIPTION])
    assert (figures.received, figures.fetches, figures.served, figures.pending) == (received, len(IDS), 10, 0)
    result = await asyncio.to_thread(
        subprocess.run,
        [INTERLINK, "advise", "tests.support.notifications:pricing_domain", "--store", backends.store],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "deferred update" in result.stdout
    assert f"{received} changes against 10 reads" in result.stdout


async def test_source_down_for_a_while_then_back_loses_nothing(backends: Backends) -> None:
    """The customer API refuses connections while notifications arrive: retried with backoff, nothing parked,
    every change applied once the API answers."""
    source = Runtime([customer], settings(backends))
    # Bound but not yet listening: connections are refused until the server starts.
    server = LiveServer(build_api(customer, lambda: source["customer"], ApiSettings()))
    url = f"http://127.0.0.1:{server._socket.getsockname()[1]}"
    # Two attempts only: the fetches that fail while the source is down are transient and use none of them.
    retry = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.3)
    final = {id: (f"{id} v2", 2) for id in IDS}
    async with (
        open_broker(backends.broker) as broker,
        HttpExternalServices([loans.service], base_urls={"customer": url}, environ={},
                             policy=ClientPolicy(backoff=0.01, max_backoff=0.05, cooldown=0.2)) as external,
    ):  # fmt: skip
        consumer = DomainRuntime(
            loans.domain,
            open_store(backends.store, "loans"),
            broker,
            settings(backends, retry=retry),
            external=external,
        )
        await consumer.start()
        try:
            async with source:
                for version in (1, 2):
                    for id in IDS:
                        await source["customer"].execute(rename, {"id": id, "name": f"{id} v{version}"})
                stats = consumer.consumers[0].stats
                await wait_until(
                    lambda: stats.errors.get("SourceUnavailable", 0) >= len(IDS), timeout=60, what="failed fetches"
                )
                async with server:

                    async def applied() -> bool:
                        return await copies_of(consumer, loans.copy.aggregate_name()) == final

                    await wait_until(applied, timeout=60, what="every change applied after the source returned")
                assert await consumer.store.dead_letters() == []
        finally:
            await consumer.stop()


async def copies_of(runtime: DomainRuntime, kind: str) -> dict[str, tuple[str, int]]:
    """(name, source version) of each customer's copy in one consumer domain."""
    found = {}
    for id in IDS:
        stored = await runtime.store.load(kind, id)
        if stored is not None:
            doc = json.loads(stored.data)
            found[id] = (doc["name"], doc["source_version"])
    return found
