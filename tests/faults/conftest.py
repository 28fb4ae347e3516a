"""Fixtures of the fault tests: the integration suite's store x broker pairs, and the poison fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The same pairs and ids as the integration suite: a fault test taking ``backends`` runs on every pair.
from tests.integration.conftest import Backends, backends, broker_url, store_url

from .apps import fault_app
from .support import Landscape

__all__ = ["backends", "broker_url", "store_url"]


@pytest.fixture
def landscape(backends: Backends, tmp_path: Path) -> Landscape:
    """fault_app's landscape on this test's store x broker pair."""
    return Landscape.of(backends, tmp_path)


@pytest.fixture
def fixed_app() -> Iterator[None]:
    """Apply the poison fix in this process for one test."""
    fault_app.FIXED = True
    try:
        yield
    finally:
        fault_app.FIXED = False
