"""``/docs``: Swagger UI from files installed with the package (``swagger-ui-py``), never from a CDN.

A bank's network often has no way out to the internet: the page, its script and its style all come from
this process. Every URL in the page is relative, so it works at the root and under ``/<domain>`` alike.
"""

from __future__ import annotations

import html
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from interlink.exceptions import ConfigurationError

__all__ = ["add_docs", "docs_index", "swagger_ui_files"]

#: The files the page loads; the rest of the package (the editor, source maps) is not served.
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE")


def swagger_ui_files() -> Path:
    """The folder of Swagger UI's distribution files, as the ``swagger-ui-py`` package installs them."""
    # find_spec locates the package without importing it (its import pulls in web-framework helpers).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the swagger-ui-py package is not installed: pip install swagger-ui-py")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class _Assets(StaticFiles):
    """Only the listed files of the distribution."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in _ASSETS:
            return "", None
        return super().lookup_path(path)


def add_docs(app: FastAPI, title: str) -> None:
    """Serve Swagger UI for this application's ``openapi.json`` at ``/docs``, assets at ``/docs/assets``."""

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json",  # relative to /docs' folder: the root or /<domain>
            title=f"{title} - Swagger UI",
            swagger_js_url="docs/assets/swagger-ui-bundle.js",
            swagger_css_url="docs/assets/swagger-ui.css",
            swagger_favicon_url="docs/assets/favicon-32x32.png",
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.mount("/docs/assets", _Assets(directory=swagger_ui_files()), name="docs-assets")


def docs_index(domains: Sequence[str]) -> HTMLResponse:
    """A page linking each domain's Swagger UI and OpenAPI document (the root ``/docs`` of several domains)."""
    rows = "\n".join(
        f'<li><a href="{html.escape(d)}/docs">{html.escape(d)}</a> '
        f'(<a href="{html.escape(d)}/openapi.json">openapi.json</a>)</li>'
        for d in domains
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interlink domains</title></head>'
        f"<body><h1>APIs served here</h1><ul>\n{rows}\n</ul></body></html>"
    )
    return HTMLResponse(page)
