"""Finding a namespace's queues and exchanges on RabbitMQ, for ``teardown``: AMQP cannot list them, so the
management HTTP API (port 15672, the AMQP credentials) is asked, or else ``rabbitmqctl`` on this machine."""

from __future__ import annotations

import asyncio
import shutil
from urllib.parse import quote

import httpx

from interlink.adapters.brokers.rabbitmq.config import RabbitMqSettings
from interlink.exceptions import BrokerError

__all__ = ["MANAGEMENT_PORT", "list_names"]

MANAGEMENT_PORT = 15672


async def list_names(settings: RabbitMqSettings) -> tuple[list[str], list[str]]:
    """The names of every queue and exchange of the settings' vhost."""
    try:
        return await _from_management(settings)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        if shutil.which("rabbitmqctl") is None:
            raise BrokerError(
                f"cannot list the queues of {settings.address}: the management API answered {exc!r} and rabbitmqctl "
                "is not installed here; enable the rabbitmq_management plugin or run teardown on the broker's host"
            ) from exc
    queues, exchanges = await asyncio.gather(
        _rabbitmqctl("list_queues", settings.vhost), _rabbitmqctl("list_exchanges", settings.vhost)
    )
    return queues, exchanges


async def _from_management(settings: RabbitMqSettings) -> tuple[list[str], list[str]]:
    base = f"{'https' if settings.tls else 'http'}://{settings.host}:{MANAGEMENT_PORT}/api"
    vhost = quote(settings.vhost, safe="")
    auth = (settings.username, settings.password)
    async with httpx.AsyncClient(auth=auth, timeout=settings.request_timeout, verify=settings.verify) as client:
        found = []
        for what in ("queues", "exchanges"):
            reply = await client.get(f"{base}/{what}/{vhost}", params={"columns": "name"})
            reply.raise_for_status()
            found.append([str(item["name"]) for item in reply.json()])
    return found[0], found[1]


async def _rabbitmqctl(what: str, vhost: str) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", what, "-p", vhost, "-q", "--no-table-headers", "name",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BrokerError(f"rabbitmqctl {what}: {err.decode(errors='replace').strip()}")
    return out.decode().split()
