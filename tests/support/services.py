"""The loopback services the integration tests use, and what to do when one does not answer.

On a newcomer's machine a missing service skips its tests, and the run ends with one line naming the
services it could not reach. With ``CI=true`` (``.ci/run`` sets it) a missing service fails the run: a
backend is never skipped silently in CI.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import pytest

__all__ = ["SERVICES", "Service", "fresh_name", "require", "unreachable"]


@dataclass(frozen=True)
class Service:
    """A service on loopback and the URL tests reach it by."""

    name: str
    port: int
    url: str

    def answers(self) -> bool:
        """True when something accepts TCP connections on the port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


SERVICES = {
    s.name: s
    for s in (
        Service("postgres", 5432, "postgresql://postgres@127.0.0.1:5432/test"),
        Service("rabbitmq", 5672, "amqp://guest:guest@127.0.0.1:5672/"),
        Service("nats", 4222, "nats://127.0.0.1:4222"),
        Service("redis", 6379, "redis://127.0.0.1:6379/0"),
    )
}

unreachable: set[str] = set()
_checked: dict[str, bool] = {}


def require(name: str) -> Service:
    """The service, or skip (fail under CI=true) the calling test when it does not answer."""
    service = SERVICES[name]
    if name not in _checked:
        _checked[name] = service.answers()
    if not _checked[name]:
        unreachable.add(name)
        message = f"{name} does not answer on 127.0.0.1:{service.port} (run ../shared/services.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    return service


def fresh_name(prefix: str = "t") -> str:
    """A name no other test uses: for schemas, queues, streams."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
