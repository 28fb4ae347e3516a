"""The entry points' event loop: uvloop when installed, asyncio's when asked (or when uvloop is missing)."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from interlink.exceptions import ConfigurationError
from interlink.runtime import loop

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_is_kept_when_asked() -> None:
    """INTERLINK_LOOP=asyncio runs on asyncio's own loop, installed uvloop or not."""
    assert loop.loop_factory("asyncio") is None
    assert loop.run(_loop_module(), choice="asyncio").startswith("asyncio")


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed (the 'fast' extra)")
def test_uvloop_is_used_when_installed() -> None:
    """The default (auto) picks uvloop when it can be imported."""
    assert loop.run(_loop_module(), choice="auto").startswith("uvloop")
    assert loop.run(_loop_module(), choice="uvloop").startswith("uvloop")


def test_a_wrong_choice_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown INTERLINK_LOOP value is refused with the values it takes."""
    monkeypatch.setenv(loop.LOOP_ENV, "tokio")
    with pytest.raises(ConfigurationError, match="auto, uvloop or asyncio"):
        loop.run(_loop_module())


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop not importable: auto runs on asyncio, INTERLINK_LOOP=uvloop names the extra to install."""
    monkeypatch.setitem(__import__("sys").modules, "uvloop", None)
    assert loop.loop_factory("auto") is None
    with pytest.raises(ConfigurationError, match=r"interlink\[fast\]"):
        loop.loop_factory("uvloop")
