"""``interlink teardown`` on every store x broker pair: what the framework created while running is gone after."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from interlink.cli.main import app
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.integration.test_end_to_end import change_order, order, shipping, versions_seen
from tests.support.cleanup import _rabbitmqctl
from tests.support.services import require


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    db.close()
    return [n for n in names if n != "sqlite_sequence"]


async def _broker_leftovers(backends: Backends) -> list[str]:
    """What the broker still holds of the test's namespace (the embedded broker: tables in its file)."""
    if backends.broker_id == "embedded":
        return _tables(Path(urlsplit(backends.broker).path[1:]))
    namespace = parse_qs(urlsplit(backends.broker).query)["namespace"][0]
    if backends.broker_id == "rabbitmq":
        names = [*await _rabbitmqctl("list_queues"), *await _rabbitmqctl("list_exchanges")]
        return [n for n in names if n.startswith(f"{namespace}.")]
    if backends.broker_id == "nats":
        import nats

        nc = await nats.connect(require("nats").url)
        try:
            reply = await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=5)
        finally:
            await nc.close()
        return [s for s in json.loads(reply.data).get("streams") or [] if s.startswith(f"{namespace}_")]
    from redis.asyncio import Redis

    client = Redis.from_url(require("redis").url)
    try:
        return [str(k) async for k in client.scan_iter(match=f"{namespace}:*")]
    finally:
        await client.aclose()


async def _store_leftovers(backends: Backends) -> list[str]:
    """The stores' tables left (SQLite) or the schemas left (PostgreSQL)."""
    if backends.store_id == "sqlite":
        return [t for d in ("order", "shipping") for t in _tables(Path(backends.store.format(domain=d)[10:]))]
    schema = parse_qs(urlsplit(backends.store).query)["schema"][0]
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:names)"),
            {"names": [schema.replace("{domain}", d) for d in ("order", "shipping")]},
        )
        names = [r[0] for r in found]
    await engine.dispose()
    return names


async def test_teardown_leaves_nothing_of_a_landscape_that_ran(backends: Backends) -> None:
    """After a command was relayed and consumed, `interlink teardown --yes` removes the broker's objects of the
    namespace and the stores' tables or schemas, and names them."""
    settings = Settings(store_url=backends.store, broker_url=backends.broker, relay_poll_interval=0.1, fetch_wait=0.1)
    async with Runtime([order, shipping], settings) as runtime:
        await runtime["order"].execute(change_order, {"id": "O-1", "amount": 5})

        async def consumed() -> bool:
            return await versions_seen(runtime, "O-1") == [1]

        await wait_until(consumed, timeout=20, what="the event consumed by shipping")
    assert await _broker_leftovers(backends)
    assert await _store_leftovers(backends)
    args = ["teardown", "--store", backends.store, "--broker", backends.broker]
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--domain", "order", "--domain", "shipping", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "removed order: " in result.output
    assert await _broker_leftovers(backends) == []
    assert await _store_leftovers(backends) == []


def test_teardown_asks_first_and_removes_nothing_when_refused(tmp_path: Path) -> None:
    """Without --yes, teardown asks; answering no removes nothing and exits with status 1."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    assert CliRunner().invoke(app, ["migrate", "--store", store, "--domain", "loans"]).exit_code == 0
    broker = f"sqlite:///{tmp_path}/broker.db"
    result = CliRunner().invoke(
        app, ["teardown", "--store", store, "--broker", broker, "--domain", "loans"], input="n\n"
    )
    assert result.exit_code == 1
    assert "Delete them?" in result.output
    assert "nothing removed" in result.output
    assert "interlink_meta" in _tables(tmp_path / "loans.db")
