"""Backends for the integration suite: every test that takes ``backends`` runs on every store x broker pair.

Ids: stores ``sqlite`` and ``postgres``; brokers ``embedded`` (SQLite), ``rabbitmq``, ``nats``, ``redis``.
Every pair gets fresh names (files, schemas, namespaces), so tests never see each other's data.
Select a subset with ``-k``, e.g. ``pytest tests/integration -k "postgres and nats"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.cleanup import purge_namespace
from tests.support.services import fresh_name, require

STORES = ["sqlite", "postgres"]
BROKERS = ["embedded", "rabbitmq", "nats", "redis"]


@dataclass(frozen=True)
class Backends:
    """A store URL (with ``{domain}``) and a broker URL, both fresh for one test."""

    store: str
    broker: str
    store_id: str
    broker_id: str

    def broker_with(self, **options: object) -> str:
        """The broker URL with more query options (e.g. a short visibility timeout)."""
        joiner = "&" if "?" in self.broker else "?"
        return self.broker + joiner + "&".join(f"{k}={v}" for k, v in options.items())


@pytest.fixture(params=STORES)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL template with ``{domain}``, fresh for this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/{{domain}}.db"
        return
    base = require("postgres").url
    prefix = fresh_name("it")
    yield f"{base}?schema={prefix}_{{domain}}"
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        schemas = await conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": f"{prefix}_%"}
        )
        for (name,) in schemas.all():
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


@pytest.fixture(params=BROKERS)
async def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A broker URL, fresh for this test; what the test declared on a shared broker is deleted after it."""
    if request.param == "embedded":
        yield f"sqlite:///{tmp_path}/broker.db"
        return
    service = require(request.param)
    joiner = "&" if "?" in service.url else "?"
    namespace = fresh_name("it")
    yield f"{service.url}{joiner}namespace={namespace}"
    await purge_namespace(request.param, service.url, namespace)


@pytest.fixture
def backends(request: pytest.FixtureRequest, store_url: str, broker_url: str) -> Backends:
    """One store x broker pair."""
    ids = request.node.callspec.id.split("-") if hasattr(request.node, "callspec") else ["?", "?"]
    store_id = next((i for i in ids if i in STORES), "?")
    broker_id = next((i for i in ids if i in BROKERS), "?")
    return Backends(store_url, broker_url, store_id, broker_id)


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The shared Redis server's URL; skips the module's Redis tests (fails them under CI=true) if it is down."""
    return require("redis").url


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    """A fresh Redis key namespace, whose keys are deleted after the test."""
    name = fresh_name("ilt")
    yield name
    async with Redis.from_url(redis_url) as raw:
        keys = [key async for key in raw.scan_iter(match=f"{name}:*", count=1000)]
        if keys:
            await raw.unlink(*keys)
