"""Test-wide hooks."""

from __future__ import annotations

import pytest

from tests.support.services import unreachable


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in one line which backends were not reachable, so a skipped backend is never silent."""
    if unreachable:
        terminalreporter.write_line(
            f"backends not reachable, their tests skipped: {', '.join(sorted(unreachable))}", yellow=True
        )
