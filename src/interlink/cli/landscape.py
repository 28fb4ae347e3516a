"""``interlink landscape``: the domains of a module and every integration between them, as a diagram."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from interlink.cli.loading import errors, load_domains
from interlink.specs import collect
from interlink.specs.diagram import html_page, svg
from interlink.specs.landscape import build_landscape, mermaid


class DiagramFormat(StrEnum):
    """What the diagram is written as."""

    mermaid = "mermaid"
    html = "html"
    svg = "svg"


def landscape(
    module: Annotated[str, typer.Argument(help="MODULE (every Domain in it) or MODULE:NAME.")],
    format: Annotated[DiagramFormat, typer.Option("--format", help="mermaid, html or svg.")] = DiagramFormat.mermaid,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
) -> None:
    """The landscape diagram: domains as boxes, every integration as an arrow labelled with its pattern."""
    with errors():
        drawn = build_landscape([collect(d) for d in load_domains(module)])
        title = f"Landscape: {module}"
        text = {
            DiagramFormat.mermaid: lambda: mermaid(drawn),
            DiagramFormat.html: lambda: html_page(drawn, title),
            DiagramFormat.svg: lambda: svg(drawn, title),
        }[format]()
        if out is None:
            typer.echo(text, nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the landscape of {len(drawn.nodes)} boxes and {len(drawn.edges)} integrations to {out}")
