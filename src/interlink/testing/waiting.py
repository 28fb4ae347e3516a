"""Waiting on a condition with a deadline, so tests wait for events instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["wait_until"]

T = TypeVar("T")


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T | None]],
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.02,
    what: str = "the condition",
) -> T: ...
@overload
async def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.02,
    what: str = "the condition",
) -> T: ...


# A deadline the caller names, not asyncio.timeout(): cancelling a predicate half-way (a store read, a
# subprocess poll) would hide which condition was not met.
async def wait_until(
    predicate: Callable[[], Any],
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.02,
    what: str = "the condition",
) -> Any:
    """Call ``predicate`` (sync or async) every ``interval`` seconds until it returns something truthy.

    Returns that value. Raises :class:`TimeoutError` naming ``what`` and the last value seen when
    ``timeout`` seconds pass first. The predicate is always called at least once, and once more at the
    deadline, so a condition met just in time is not reported as a timeout.
    """
    if timeout < 0:
        raise ValueError(f"timeout must not be negative, got {timeout}")
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            last = repr(value)
            last = last if len(last) <= 200 else f"{last[:200]}..."
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what} (last value: {last})")
        await asyncio.sleep(min(interval, remaining))
