"""Every specification of a landscape in one folder, with an index page linking them.

``<domain>/asyncapi.json`` and ``asyncapi.yaml``, ``<domain>/openapi.json`` and, for a domain that takes
inbound files, ``<domain>/files.json`` (layout name -> JSON Schema); the landscape diagram
(``landscape.html``, ``.svg``, ``.mmd``); ``index.html`` lists them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import yaml

from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.inbound_file.schemas import file_schemas
from interlink.specs.asyncapi import asyncapi_document
from interlink.specs.collect import collect
from interlink.specs.diagram import html_page, svg
from interlink.specs.landscape import build_landscape, mermaid

__all__ = ["BundledDomain", "write_bundle"]


@dataclass
class BundledDomain:
    """What was written for one domain, relative to the bundle's folder."""

    name: str
    description: str
    files: dict[str, str] = field(default_factory=dict)  # what it is -> relative path
    summary: list[str] = field(default_factory=list)


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def write_bundle(
    domains: Sequence[Domain],
    out: Path,
    title: str = "Landscape",
    broker: str | None = None,
    api: ApiSettings | None = None,
) -> list[BundledDomain]:
    """Write every document of ``domains`` under ``out``, the landscape diagram, and an ``index.html``; the
    AsyncAPI documents describe the broker at the URL ``broker`` (the embedded default one when None), the
    OpenAPI documents the API as ``api`` configures it (its servers).

    ConfigurationError when two documents share an operation id: an API portal holding the landscape
    needs them unique."""
    out.mkdir(parents=True, exist_ok=True)
    bundled = []
    specs = []
    ids: dict[str, str] = {}
    for domain in domains:
        folder = out / domain.name
        folder.mkdir(exist_ok=True)
        entry = BundledDomain(domain.name, domain.description)
        spec = collect(domain)
        specs.append(spec)
        asyncapi = asyncapi_document(spec, broker=broker)
        openapi = build_api(domain, settings=api).openapi()
        _unique_ids(ids, f"{domain.name}/asyncapi", asyncapi["operations"])
        _unique_ids(
            ids, f"{domain.name}/openapi", [o["operationId"] for p in openapi["paths"].values() for o in p.values()]
        )
        documents: dict[str, tuple[str, str]] = {
            "AsyncAPI 3.0 (JSON)": ("asyncapi.json", _json(asyncapi)),
            "AsyncAPI 3.0 (YAML)": ("asyncapi.yaml", _yaml(asyncapi)),
            "OpenAPI 3.1": ("openapi.json", _json(openapi)),
        }
        layouts = file_schemas(domain)
        if layouts:
            documents["inbound file layouts (JSON Schema)"] = ("files.json", _json(layouts))
        for what, (name, text) in documents.items():
            (folder / name).write_text(text, encoding="utf-8")
            entry.files[what] = f"{domain.name}/{name}"
        entry.summary = [
            f"{len(spec.channels)} channel(s), {len(spec.operations)} operation(s)",
            f"{len(spec.routes)} HTTP route(s)",
            f"{len(layouts)} inbound file layout(s)",
        ]
        bundled.append(entry)
    drawn = build_landscape(specs)
    diagrams = {
        "landscape diagram": ("landscape.html", html_page(drawn, title)),
        "landscape diagram (SVG)": ("landscape.svg", svg(drawn, title)),
        "landscape diagram (Mermaid)": ("landscape.mmd", mermaid(drawn)),
    }
    for name, text in diagrams.values():
        (out / name).write_text(text, encoding="utf-8")
    others = {what: name for what, (name, _) in diagrams.items()}
    (out / "index.html").write_text(_index(bundled, others, diagrams["landscape diagram (SVG)"][1]), encoding="utf-8")
    return bundled


def _unique_ids(seen: dict[str, str], where: str, ids: Iterable[str]) -> None:
    for id in ids:
        if id in seen:
            raise ConfigurationError(f"operation id {id!r} of {where} is also one of {seen[id]}: rename one")
        seen[id] = where


def _index(bundled: list[BundledDomain], others: dict[str, str], picture: str) -> str:
    rows = []
    for entry in bundled:
        links = "".join(f'<li><a href="{escape(path)}">{escape(title)}</a></li>' for title, path in entry.files.items())
        rows.append(
            f'<section class="domain" id="{escape(entry.name)}"><h2>{escape(entry.name)}</h2>'
            f"<p>{escape(entry.description)}</p><p class='summary'>{escape('; '.join(entry.summary))}</p>"
            f"<ul>{links}</ul></section>"
        )
    extra = "".join(f'<li><a href="{escape(path)}">{escape(title)}</a></li>' for title, path in others.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Specifications</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}
.domain {{ background: #f9c06b; border: 1px solid #c8902f; border-radius: 8px; padding: 0.5em 1em; margin: 1em 0; }}
.summary {{ color: #555; font-size: 0.9em; }}
svg {{ max-width: 100%; height: auto; }}
</style></head>
<body><h1>Specifications</h1>
<p>Generated from the domains' declarations by <code>interlink spec bundle</code>.</p>
<ul>{extra}</ul>
{picture}
{"".join(rows)}
</body></html>
"""
