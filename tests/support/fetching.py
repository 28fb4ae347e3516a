"""Fetching what a test published, however the broker splits it into batches."""

from __future__ import annotations

import asyncio

from interlink.ports.broker import Broker, Delivery


async def fetch_all(broker: Broker, subscription: str, expected: int, patience: float = 10) -> list[Delivery]:
    """Fetch until ``expected`` deliveries came or ``patience`` seconds passed; what came, in order.

    A fetch returns once something is there, so messages published together may come in several fetches
    (a TLS socket, say, hands them over in more than one read).
    """
    got: list[Delivery] = []
    deadline = asyncio.get_running_loop().time() + patience
    while len(got) < expected and asyncio.get_running_loop().time() < deadline:
        got += await broker.fetch(subscription, expected - len(got), wait=0.5)
    return got
