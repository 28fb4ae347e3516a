"""The load's HTTP client: one command sent under an Idempotency-Key, again with the same key and body until the
API acknowledges it (200, or 201 for a creation), as a careful client does when its connection drops or the
service is restarting."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["RETRIED", "Operation", "until_acknowledged"]

#: Answers a client retries with the same key: 409 (the key's request is still running, e.g. held by a
#: process that was killed while running it, or a write conflict) and the server-side failures.
RETRIED = frozenset({409, 500, 502, 503, 504})


@dataclass
class Operation:
    """One command of the load, and what became of it."""

    key: str
    method: str
    url: str
    body: dict[str, Any]
    acknowledged: bool = False
    #: The answer that ended the retries without an acknowledgment (a 4xx the client cannot retry).
    refused: str | None = None
    #: Every answer (status code or transport error) it got, counted.
    answers: Counter[str] = field(default_factory=Counter)

    @property
    def unanswered(self) -> bool:
        """Never acknowledged: it may or may not have been applied."""
        return not self.acknowledged

    def describe(self) -> str:
        """Its key, request and the answers it got."""
        ending = f", refused: {self.refused}" if self.refused else ""
        return f"{self.key} {self.method} {self.url} answers {dict(self.answers)}{ending}"


async def until_acknowledged(http: httpx.AsyncClient, op: Operation, deadline: Callable[[], float]) -> None:
    """Send ``op`` until it is acknowledged, refused, or the loop time passes ``deadline()``."""
    loop = asyncio.get_running_loop()
    pause = 0.2
    while loop.time() < deadline():
        try:
            answer = await http.request(op.method, op.url, json=op.body, headers={"Idempotency-Key": op.key})
        except httpx.TransportError as exc:
            op.answers[type(exc).__name__] += 1
        else:
            op.answers[str(answer.status_code)] += 1
            if answer.status_code in (200, 201):  # 201: the command created its resource
                op.acknowledged = True
                return
            if answer.status_code not in RETRIED:
                op.refused = f"{answer.status_code} {answer.text[:300]}"
                return
        await asyncio.sleep(pause)
        pause = min(2.0, pause * 2)
