"""Test-wide hooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.services import unreachable


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of a parallel run hands the backends it could not reach to the controller."""
    output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["unreachable"] = sorted(unreachable)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller of a parallel run collects what each worker could not reach."""
    unreachable.update(getattr(node, "workeroutput", {}).get("unreachable", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in one line which backends were not reachable, so a skipped backend is never silent."""
    if unreachable:
        terminalreporter.write_line(
            f"backends not reachable, their tests skipped: {', '.join(sorted(unreachable))}", yellow=True
        )
