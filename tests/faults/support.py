"""Helpers of the fault tests: real subprocesses on SQLite files, and counting what is in the stores.

The domains live in ``apps/fault_app.py``; subprocesses import it as ``fault_app`` (``apps`` is on their
``PYTHONPATH``), this process through its package (``.apps.fault_app``). The message types are the same.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

APPS = Path(__file__).parent / "apps"
RUNNER = APPS / "runner.py"
INTERLINK = Path(sys.executable).parent / "interlink"
# Set by a test for one subprocess only; never inherited from the shell that runs pytest.
_PRIVATE_ENV = ("INTERLINK_CRASH_AT", "FAULT_APP_FIXED", "INTERLINK_STORE", "INTERLINK_BROKER")


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without the knobs the tests set themselves, plus ``apps`` on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(APPS), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


@dataclass
class Workdir:
    """One landscape's SQLite files: ``payment.db``, ``receipt.db`` (stores) and ``bus.db`` (broker)."""

    path: Path

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.path}/{{domain}}.db"

    @property
    def broker_url(self) -> str:
        return f"sqlite:///{self.path}/bus.db"

    def _rows(self, db: str, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{self.path / db}?mode=ro", uri=True) as conn:
            rows = conn.execute(sql).fetchall()
        conn.close()
        return rows

    def _count(self, db: str, table: str) -> int:
        ((count,),) = self._rows(db, f"SELECT count(*) FROM {table}")
        return int(str(count))

    def receipts(self) -> dict[str, int]:
        """Payment id -> how many times its event was applied, for every receipt committed."""
        rows = self._rows(
            "receipt.db",
            "SELECT id, json_extract(data, '$.applied') FROM interlink_aggregates WHERE kind = 'Receipt'",
        )
        return {str(id): int(str(applied)) for id, applied in rows}

    def payments(self) -> int:
        """Payments committed in the payment domain's store."""
        return self._count("payment.db", "interlink_aggregates")

    def outbox(self) -> int:
        """Outbox rows of the payment domain not yet confirmed by the broker."""
        return self._count("payment.db", "interlink_outbox")

    def parked(self) -> list[tuple[str, int]]:
        """(message type, attempts) of every dead letter of the receipt domain."""
        rows = self._rows("receipt.db", "SELECT message_type, attempts FROM interlink_dead_letters ORDER BY id")
        return [(str(type), int(str(attempts))) for type, attempts in rows]

    def dead_letters(self) -> int:
        """Dead letters in both domains' stores."""
        return sum(self._count(db, "interlink_dead_letters") for db in ("payment.db", "receipt.db"))


@dataclass
class Run:
    """A finished runner process: its exit code, its JSON report (if it printed one) and its stderr."""

    returncode: int
    report: dict[str, float]
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr (last 3000 chars): {self.stderr[-3000:]}"


def start_runner(
    workdir: Workdir, mode: str, n: int, *args: str, crash_at: str | None = None
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start ``apps/runner.py`` as a real process; its output goes to files in the workdir."""
    env = subprocess_env(**({"INTERLINK_CRASH_AT": crash_at} if crash_at else {}))
    tag = f"{mode}-{crash_at or 'clean'}-{len(list(workdir.path.glob('*.out')))}".replace(":", "_")
    out, err = workdir.path / f"{tag}.out", workdir.path / f"{tag}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), mode, str(workdir.path), str(n), *args],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=workdir.path,
        )
    return proc, out, err


def finish_runner(proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float) -> Run:
    """Wait for a runner from :func:`start_runner` (killed after ``timeout``) and read its output."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stdout, stderr = out.read_text(), err.read_text()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return Run(proc.returncode, json.loads(lines[-1]) if lines else {}, stdout, stderr)


def run_runner(
    workdir: Workdir, mode: str, n: int, *args: str, crash_at: str | None = None, timeout: float = 90
) -> Run:
    """Run ``apps/runner.py`` to its end (or its crash) and return what it did.

    ``timeout`` is a backstop above the runner's own (60 s), after which it reports what it is missing.
    """
    return finish_runner(*start_runner(workdir, mode, n, *args, crash_at=crash_at), timeout)


def run_cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``interlink`` command as a real process."""
    return subprocess.run(
        [str(INTERLINK), *args],
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
