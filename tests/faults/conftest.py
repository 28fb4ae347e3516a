"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .apps import fault_app
from .support import Workdir


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    """A fresh folder for one landscape's SQLite files."""
    return Workdir(tmp_path)


@pytest.fixture
def fixed_app() -> Iterator[None]:
    """Apply the poison fix in this process for one test."""
    fault_app.FIXED = True
    try:
        yield
    finally:
        fault_app.FIXED = False
