"""Removing what a test left on a shared broker: every queue, exchange, stream or key under its namespace.

Each test names its broker objects ``<namespace>...`` (fault tests add ``_<tag>`` for each landscape), so a
prefix finds them all, whichever process declared them. Left behind, they pile up: a RabbitMQ node with
a thousand idle quorum queues (each a Raft group) stops answering.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import warnings

__all__ = ["purge_namespace"]


async def purge_namespace(broker: str, url: str, namespace: str) -> None:
    """Delete every object of ``namespace`` on the ``broker`` (``rabbitmq``, ``nats`` or ``redis``) at ``url``."""
    if broker == "rabbitmq":
        await _purge_rabbitmq(url, namespace)
    elif broker == "nats":
        await _purge_nats(url, namespace)
    elif broker == "redis":
        await _purge_redis(url, namespace)


async def _rabbitmqctl(what: str) -> list[str]:
    # AMQP cannot list queues; rabbitmqctl can (the management plugin is not always enabled).
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", what, "-q", "--no-table-headers", "name",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise OSError(f"rabbitmqctl {what}: {err.decode(errors='replace').strip()}")
    return out.decode().split()


async def _purge_rabbitmq(url: str, namespace: str) -> None:
    import aio_pika

    if shutil.which("rabbitmqctl") is None:
        warnings.warn("rabbitmqctl not found: test queues stay on the shared RabbitMQ", stacklevel=1)
        return
    queues, exchanges = await asyncio.gather(_rabbitmqctl("list_queues"), _rabbitmqctl("list_exchanges"))
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in queues:
            if name.startswith(namespace):
                await channel.queue_delete(name)
        for name in exchanges:
            if name.startswith(namespace):
                await channel.exchange_delete(name)
    finally:
        await connection.close()


async def _purge_nats(url: str, namespace: str) -> None:
    import nats

    nc = await nats.connect(url.split("?", 1)[0])
    try:
        reply = await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=5)
        js = nc.jetstream()
        for name in json.loads(reply.data).get("streams") or []:
            if name.startswith(namespace):
                await js.delete_stream(name)
    finally:
        await nc.close()


async def _purge_redis(url: str, namespace: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url.split("?", 1)[0])
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()
