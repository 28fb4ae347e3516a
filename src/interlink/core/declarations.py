"""What a domain declares: commands, queries, services and event handlers, read from their signatures."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel

from interlink.core.messages import Event
from interlink.exceptions import ConfigurationError

__all__ = ["CommandSpec", "HandlerSpec", "QuerySpec", "ServiceSpec", "inspect_function"]

AsyncFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CommandSpec:
    """A command: changes aggregates and emits events in one transaction."""

    name: str
    func: AsyncFn
    input_type: type[BaseModel] | None
    result_type: Any
    http: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuerySpec:
    """A query: reads aggregates, never persists."""

    name: str
    func: AsyncFn
    parameters: dict[str, Any]
    result_type: Any
    http: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """A domain service: reusable logic that may run commands but never persists itself."""

    name: str
    func: AsyncFn


@dataclass(frozen=True)
class HandlerSpec:
    """An event handler: captures an event and turns it into commands."""

    name: str
    func: AsyncFn
    event_type: type[Event]


def inspect_function(func: AsyncFn, what: str) -> tuple[dict[str, Any], Any]:
    """Check that ``func`` is ``async def f(ctx, ...)`` and return its other parameters' types and result.

    Raises ConfigurationError naming the function and what is wrong with it.
    """
    where = f"{what} {func.__module__}.{func.__qualname__}"
    if not inspect.iscoroutinefunction(func):
        raise ConfigurationError(f"{where} must be declared with 'async def'")
    params = list(inspect.signature(func).parameters.values())
    if not params:
        raise ConfigurationError(f"{where} must take the context as its first parameter")
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception as exc:  # a forward reference that cannot be resolved
        raise ConfigurationError(f"{where}: cannot read its type hints ({exc})") from exc
    others: dict[str, Any] = {}
    for param in params[1:]:
        if param.name not in hints:
            raise ConfigurationError(f"{where}: parameter {param.name!r} needs a type hint")
        others[param.name] = hints[param.name]
    return others, hints.get("return", None)
