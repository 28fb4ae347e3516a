"""The listening socket of ``make_server``: what the connections accepted from it are like."""

from __future__ import annotations

import asyncio
import importlib.util
import socket

from fastapi import FastAPI

from interlink.runtime.http import HttpEndpoint, make_server


async def test_accepted_connections_send_without_nagle_delay() -> None:
    """A connection accepted by the event loop from make_server's socket has TCP_NODELAY set, as uvicorn serves it."""
    _, sock = make_server(FastAPI(), HttpEndpoint("127.0.0.1", 0))
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("socket")
            accepted.set_result(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    # uvicorn serves the socket it is given through loop.create_server(sock=...), as here.
    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname())
        try:
            nodelay = await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            await writer.wait_closed()
        assert nodelay != 0
    finally:
        server.close()
        await server.wait_closed()


def test_the_server_parses_http_with_httptools_when_installed() -> None:
    """uvicorn's C parser (the fast extra) when it can be imported, h11 otherwise: the choice is left to uvicorn."""
    server, sock = make_server(FastAPI(), HttpEndpoint("127.0.0.1", 0))
    sock.close()
    server.config.load()
    expected = "HttpToolsProtocol" if importlib.util.find_spec("httptools") else "H11Protocol"
    assert server.config.http_protocol_class.__name__ == expected
