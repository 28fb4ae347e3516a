"""``interlink spec``: the specifications generated from a domain's declarations."""

from __future__ import annotations

import json

import typer

from interlink.cli.loading import errors, load_domain
from interlink.cli.options import TargetArgument
from interlink.patterns.api_exposure import build_api

app = typer.Typer(help="Print the specifications generated from a domain's declarations.")


@app.command()
def openapi(target: TargetArgument) -> None:
    """The domain's OpenAPI 3.1 document (JSON), without starting a server."""
    with errors():
        domain = load_domain(target)
        document = build_api(domain).openapi()
    typer.echo(json.dumps(document, indent=2))
