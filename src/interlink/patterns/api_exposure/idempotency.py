"""Idempotency-Key: one header, a claim that lives only as long as the process that runs the command.

A request under a key claims it in the store (state ``pending``) for a short lease, and renews the lease
while the command runs, every third of the lease. The command's response is committed with its effects
(state ``done``); a retry with the same key and body gets that response back. When the process holding a
claim dies (SIGKILL, a lost node), nothing renews it: after one lease the key is free again and a retry
runs the command, which the dead process never committed. A claim held by a live process answers 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from interlink.exceptions import InterlinkError
from interlink.patterns.api_exposure.guards import BadRequest
from interlink.patterns.api_exposure.problems import problem
from interlink.ports.store import IdempotencyRecord, Store

__all__ = ["claimed_key", "idempotency_key", "replay"]

log = logging.getLogger("interlink.api")


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key; 400 when it is empty or given more than once."""
    given = request.headers.getlist("idempotency-key")
    if not given:
        return None
    if len(given) > 1:
        raise BadRequest("Idempotency-Key is given more than once: send one key")
    if not given[0].strip():
        raise BadRequest("Idempotency-Key is empty: send a key unique to this request, or no header")
    return given[0]


@contextlib.asynccontextmanager
async def claimed_key(store: Store, key: str, fingerprint: str, lease: float) -> AsyncIterator[None]:
    """Keep the claim on ``key`` alive while the block runs; drop it if the block fails."""
    renewer = asyncio.create_task(_renew(store, key, fingerprint, lease), name=f"idempotency-lease:{key[:40]}")
    try:
        yield
    except BaseException:
        renewer.cancel()
        await store.release_idempotency(key)
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer


async def _renew(store: Store, key: str, fingerprint: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        try:
            if not await store.renew_idempotency(key, fingerprint):
                return  # done (committed) or taken over: nothing left to hold
        except InterlinkError as exc:
            # The next renewal may pass; until the lease runs out the claim stands anyway.
            log.warning("could not renew the lease of Idempotency-Key %r: %s", key[:40], exc)


def replay(
    held: IdempotencyRecord, fingerprint: str, correlation: str, *, etag: bool, location: str | None = None
) -> Response:
    """The answer to a request whose key is held: 422 (other request), 409 (still running) or the response."""
    if held.fingerprint != fingerprint:
        return problem(422, "Unprocessable Content", "this Idempotency-Key was used with another request")
    if held.state == "pending":
        return problem(
            409, "Conflict", "a request with this Idempotency-Key is still running", headers={"Retry-After": "1"}
        )
    headers = {"X-Correlation-Id": correlation, "Idempotent-Replayed": "true"}
    if etag and held.response:
        # The stored body is the aggregate as it was returned: its version is the ETag it was sent with.
        version = json.loads(held.response).get("version")
        if isinstance(version, int):
            headers["ETag"] = f'"{version}"'
    if location is not None and held.status == 201 and held.response:
        created = json.loads(held.response).get("id")
        if isinstance(created, str):
            headers["Location"] = location.format(quote(created, safe=""))
    return Response((held.response or "").encode(), held.status or 200, headers, "application/json")
