"""Tools the specification tests check documents with: the official AsyncAPI parser and headless Chromium.

Both are outside Python. On CI (``CI=true``) a missing one fails the tests that need it; elsewhere those
tests are skipped with one line saying what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

HERE = Path(__file__).parent
NODE_DIR = HERE.parents[1] / ".cache" / "node"

#: Every module whose domains must have valid specifications.
SPEC_MODULES = [
    "examples.bank",
    "tests.specs.landscape_app",
    "tests.specs.field_types_app",
    "tests.specs.notification_app",
    "tests.faults.apps.fault_app",
    "tests.faults.apps.inbound_app",
    "tests.support.api_app",
    "tests.support.command_events_app",
    "tests.support.ecst_app",
]

Validate = Callable[[list[Path]], list[dict[str, Any]]]


def unavailable(reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere, saying what is missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _install_parser() -> None:
    """``npm ci`` of this folder's package.json and lockfile into .cache/node, once per lockfile."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("node and npm not found: AsyncAPI documents not checked by @asyncapi/parser (install Node.js)")
    lock = (HERE / "package-lock.json").read_text()
    stamp = NODE_DIR / ".installed"
    if stamp.exists() and stamp.read_text() == lock:
        return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(HERE / name, NODE_DIR / name)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"npm ci of @asyncapi/parser failed in {NODE_DIR}: {done.stderr.strip()[-600:]}")
    stamp.write_text(lock)


@pytest.fixture(scope="session")
def asyncapi_parser() -> Validate:
    """A function running the official parser on documents; one result per file (errors, warnings)."""
    _install_parser()

    def validate(files: list[Path]) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["node", str(HERE / "asyncapi_validate.mjs"), str(NODE_DIR), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if len(results) != len(files):
            raise AssertionError(f"the parser did not report on every file: {done.stderr.strip()}")
        return results

    return validate


@pytest.fixture(scope="session")
def chromium() -> Callable[[Path], str]:
    """A function returning the DOM of an HTML file after headless Chromium loaded it and ran its scripts."""
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found is None:
        unavailable("chromium not found: the landscape page is not checked in a browser (apt-get install chromium)")
    browser: str = found

    def dump_dom(page: Path) -> str:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or "<html" not in done.stdout:
            raise AssertionError(f"chromium could not render {page}: {done.stderr.strip()[-600:]}")
        return done.stdout

    return dump_dom
