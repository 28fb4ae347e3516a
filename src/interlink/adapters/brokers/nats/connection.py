"""Connecting to NATS with JetStream: credentials never sent in clear when TLS was asked for, a bounded first
attempt, then reconnection forever; and letting go of a connection (buffered acks written out first)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
from collections.abc import Callable

from nats import errors as nats_errors
from nats.aio.client import Client

from interlink.adapters.brokers.nats.config import NatsSettings, ssl_context
from interlink.adapters.brokers.nats.errors import translate
from interlink.adapters.brokers.nats.jetstream import JetStream
from interlink.exceptions import BrokerUnavailable

__all__ = ["connect", "discard"]

log = logging.getLogger("interlink.broker.nats")


async def connect(
    settings: NatsSettings, *, lost: Callable[[], None], restored: Callable[[Client], None]
) -> tuple[Client, JetStream]:
    """A connection to ``settings.server`` with JetStream checked; ``lost`` runs when the connection drops,
    ``restored`` with the client when it is back."""
    server = settings.server
    tls = ssl_context(settings)
    nc = Client()
    seen: list[BaseException] = []
    connecting: asyncio.Timeout | None = None

    def guarded(secret: str | None) -> Callable[[], str] | None:
        # nats-py calls this as it writes CONNECT: no secret goes out in clear when TLS was asked for.
        def credential() -> str:
            if settings.tls and not nc._server_info.get("tls_required"):
                raise nats_errors.SecureConnWantedError
            return secret or ""

        return credential if secret is not None else None

    async def on_error(exc: Exception) -> None:
        seen.append(exc)
        log.warning("%s", translate(exc, f"connection to {server}"))
        if connecting is not None and isinstance(exc, ssl.SSLError):
            # After a failed TLS handshake nats-py waits forever for the socket to close (asyncio's
            # start_tls swapped its protocol): give it a second to close it, then stop waiting.
            connecting.reschedule(asyncio.get_running_loop().time() + 1.0)

    async def on_disconnected() -> None:
        lost()  # the pull requests died with the connection: no answer will come
        if not nc.is_closed:
            log.warning("NATS connection to %s lost; reconnecting", server)

    async def on_reconnected() -> None:
        log.warning("NATS connection to %s restored", server)
        restored(nc)  # the server may have restarted with another max_payload

    try:
        async with asyncio.timeout(None) as connecting:
            await nc.connect(
                servers=[server],
                name="interlink",
                tls=tls,
                tls_hostname=settings.tls_hostname,
                user=settings.user,
                password=guarded(settings.password),
                token=guarded(settings.auth_token),
                connect_timeout=math.ceil(settings.request_timeout),
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # seconds; a float works
                # Two tries here: with -1, connect() would wait forever for a server that is down.
                max_reconnect_attempts=1,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            )
        connecting = None
        # Connected, reconnect forever: an outage ends, and the process should not have to restart.
        nc.options["max_reconnect_attempts"] = -1
        if settings.tls and not nc._server_info.get("tls_required"):
            raise nats_errors.SecureConnWantedError
        js = JetStream(nc, timeout=settings.request_timeout)
        await js.account_info()
    except (nats_errors.Error, OSError) as exc:
        await discard(nc)
        doing = f"connect to {server} (JetStream enabled?)"
        if isinstance(exc, nats_errors.NoServersError | TimeoutError) and seen:
            # The attempts' own errors say why; a refusal for good (credentials, TLS) outweighs a reset.
            tried = [translate(error, doing) for error in seen]
            raise next((e for e in tried if not isinstance(e, BrokerUnavailable)), tried[-1]) from exc
        raise translate(exc, doing) from exc
    return nc, js


async def discard(nc: Client) -> None:
    """Close ``nc``, ignoring errors: close() writes out what is still buffered (acks) before it lets go."""
    with contextlib.suppress(nats_errors.Error, OSError):
        await nc.close()
