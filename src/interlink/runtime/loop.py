"""The event loop of the entry points: uvloop when it is installed (``interlink[fast]``), else asyncio's own.

``interlink run`` (and each of its workers) and the other commands run on :func:`run`. uvloop cuts the
event loop's own share of a message's CPU (callbacks, futures, socket reads and writes); nothing in
Interlink depends on it. ``INTERLINK_LOOP=asyncio`` keeps asyncio's loop although uvloop is installed,
``INTERLINK_LOOP=uvloop`` refuses to start without it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from interlink.exceptions import ConfigurationError

__all__ = ["LOOP_ENV", "loop_factory", "run"]

#: ``auto`` (the default: uvloop if installed), ``uvloop`` or ``asyncio``.
LOOP_ENV = "INTERLINK_LOOP"
T = TypeVar("T")


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A new-loop function for ``asyncio.Runner``: uvloop's, or None for asyncio's default."""
    choice = (os.environ.get(LOOP_ENV) or "auto") if choice is None else choice
    if choice == "asyncio":
        return None
    if choice not in ("auto", "uvloop"):
        raise ConfigurationError(f"{LOOP_ENV}={choice!r}: write auto, uvloop or asyncio")
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigurationError(
                f"{LOOP_ENV}=uvloop: uvloop is not installed (pip install 'interlink[fast]')"
            ) from None
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, choice: str | None = None) -> T:
    """``asyncio.run(main)`` on the loop :func:`loop_factory` picks."""
    try:
        factory = loop_factory(choice)
    except BaseException:
        main.close()  # never awaited: close it, so no "was never awaited" warning hides the error
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
