"""A process serving several domains answers at its root: probes for all of them, an index of their docs, and
Swagger UI served from this process (a bank network has no way out to a CDN).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from examples.bank.customer import customer

from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import Runtime, Settings
from interlink.runtime.http import api_for
from tests.support.api_app import accounts
from tests.support.uvicorn_server import LiveServer


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Accounts and customer in one process, each under /<domain>."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=f"sqlite:///{tmp_path}/b.db")
    async with Runtime([accounts, customer], settings) as runtime:
        app = api_for({"account": runtime["account"], "customer": runtime["customer"]}, ApiSettings())
        async with LiveServer(app) as server, httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            yield http


async def test_root_probes_cover_every_domain(two: httpx.AsyncClient) -> None:
    """/healthz answers at the root; /readyz reports each domain's store, broker and outbox."""
    assert (await two.get("/healthz")).json() == {"status": "ok"}
    ready = await two.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["domains"]) == {"account", "customer"}
    assert all(d["checks"]["store"] == "ok" for d in body["domains"].values())


async def test_root_docs_index_links_each_domain(two: httpx.AsyncClient) -> None:
    """/docs at the root lists each domain's Swagger UI and OpenAPI document, and each link answers."""
    index = await two.get("/docs")
    assert index.status_code == 200
    links = set(re.findall(r'href="([^"]+)"', index.text))
    assert links == {"account/docs", "account/openapi.json", "customer/docs", "customer/openapi.json"}
    for link in links:
        assert (await two.get(f"/{link}")).status_code == 200, link


async def test_swagger_ui_loads_only_from_this_process(two: httpx.AsyncClient) -> None:
    """The docs page names no absolute URL; each script, style and icon it loads is served here."""
    page = await two.get("/customer/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    assert "openapi.json" in page.text
    assert not re.search(r"https?://|[\"']//", page.text), "nothing from another host"
    for asset in assets:
        served = await two.get(f"/customer/{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset
    licence = await two.get("/customer/docs/assets/LICENSE")
    assert "Apache License" in licence.text
    assert (await two.get("/customer/docs/assets/swagger-editor.js")).status_code == 404
