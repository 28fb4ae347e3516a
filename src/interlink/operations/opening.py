"""Opening the facade from URLs, for a client that holds no store or broker of its own (CLI, a watching console)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.exceptions import AdapterError
from interlink.operations.facade import Operations
from interlink.ports.broker import Broker
from interlink.runtime.backends import open_broker, open_store

__all__ = ["open_operations"]

log = logging.getLogger("interlink.operations")


@asynccontextmanager
async def open_operations(
    domain: Domain, store_url: str, broker_url: str | None = None, *, clock: Clock | None = None
) -> AsyncIterator[Operations]:
    """The facade over the domain's store (``{domain}`` in the URL is its name), connected; and over its broker
    when a URL is given and it answers (what actions emit is then published before they return; otherwise it
    waits in the outbox for the domain's relay). Everything is closed at the end."""
    broker: Broker | None = None
    if broker_url is not None:
        broker = open_broker(broker_url)
        try:
            await broker.connect()
        except AdapterError as exc:
            log.warning("operating without the broker (%s); what is emitted stays in the outbox", exc)
            broker = None
    try:
        async with open_store(store_url, domain.name) as store:
            ops = Operations(domain, store, broker, clock=clock)
            try:
                yield ops
            finally:
                await ops.close()
    finally:
        if broker is not None:
            await broker.close()
