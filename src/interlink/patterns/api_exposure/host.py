"""What the API layer needs from a running domain: a small protocol, so this pattern imports no runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from interlink.core.domain import Domain
from interlink.ports.broker import Broker
from interlink.ports.store import IdempotencyRecord, Store

__all__ = ["DomainHost"]

R = TypeVar("R")


class DomainHost(Protocol):
    """A domain at run time (``interlink.runtime.DomainRuntime`` is one)."""

    domain: Domain
    store: Store
    broker: Broker

    async def execute(
        self,
        command: Callable[..., Awaitable[R]],
        data: Any = None,
        *,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        expect: tuple[str, int | None] | None = None,
        finish: Callable[[R], IdempotencyRecord] | None = None,
    ) -> R: ...

    async def query(
        self,
        query: Callable[..., Awaitable[R]],
        *,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        **params: Any,
    ) -> R: ...
