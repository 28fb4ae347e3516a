"""Operational commands say which store they read, with its password hidden: an operator looking at the wrong
store (an old SQLite file while production runs on PostgreSQL) sees it at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.services import fresh_name, require

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
PASSWORD = "pw-not-to-be-printed"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")} | {"NO_COLOR": "1"}
    return subprocess.run([INTERLINK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL store URL with a password (the server trusts loopback, so any password connects)."""
    base = require("postgres").url
    prefix = fresh_name("note")
    scheme, rest = base.split("://", 1)
    user_host = rest if "@" in rest else f"postgres@{rest}"
    user, host = user_host.split("@", 1)
    yield f"{scheme}://{user.split(':', 1)[0]}:{PASSWORD}@{host}?schema={prefix}_{{domain}}"
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        found = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": f"{prefix}_%"})
        for (name,) in found.all():
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["outbox", "status", "examples.bank:customer"],
        ["sagas", "list", "examples.bank:loan_request"],
        ["advise", "examples.bank:risk_assessment"],
        ["dead-letters", "list", "examples.bank:customer_communication"],
    ],
    ids=["outbox", "sagas", "advise", "dead-letters"],
)
def test_each_command_names_the_store_it_reads_without_its_password(pg_url: str, command: list[str]) -> None:
    """outbox, sagas, advise, dead-letters print ``<domain>: store postgresql://user:***@host/db (schema ...)``."""
    result = _cli(*command, "--store", pg_url)
    assert result.returncode == 0, result.stderr
    domain = command[-1].split(":", 1)[1].replace("_", "-")
    schema = pg_url.rsplit("schema=", 1)[1].replace("{domain}", domain).replace("-", "_")
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{domain}: store ")]
    assert len(lines) == 1, result.stderr
    assert ":***@" in lines[0]
    assert f"(schema {schema})" in lines[0]
    assert PASSWORD not in result.stderr + result.stdout
