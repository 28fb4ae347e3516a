"""`interlink run` as a subprocess for tests of its options, and the check that help and docs list them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ROOT", "assert_documented", "run"]

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``interlink run ARGS`` from the project's folder, with no INTERLINK_ variable but ``env``'s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    return subprocess.run(
        [INTERLINK, "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "PYTHONPATH": str(ROOT), "COLUMNS": "400", **env},
    )  # fmt: skip


def assert_documented(options: Mapping[str, str], doc: str) -> None:
    """`interlink run --help` and docs/``doc`` both list each option with its environment variable."""
    shown = run("--help").stdout
    text = (ROOT / "docs" / doc).read_text()
    for option, variable in options.items():
        assert option in shown
        assert variable in shown
        assert f"`{option}` | `{variable}`" in text
