"""``interlink spec``: the specifications generated from a domain's declarations."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from interlink.cli.loading import errors, load_domain, load_domains
from interlink.cli.options import TargetArgument
from interlink.patterns.api_exposure import ApiSettings, build_api
from interlink.patterns.inbound_file.schemas import file_schemas
from interlink.specs import asyncapi_document, collect
from interlink.specs.bundle import write_bundle
from interlink.specs.diff import diff_paths

app = typer.Typer(help="Print the specifications generated from a domain's declarations.")

DocumentedBroker = Annotated[
    str | None,
    typer.Option(
        "--broker",
        envvar="INTERLINK_BROKER",
        help=(
            "The broker URL the domains run with (as `interlink run --broker`): the AsyncAPI servers, addresses "
            "and bindings are that broker's, with its namespace; its credentials are never written. Without "
            "it, the embedded broker `interlink run` uses by default."
        ),
        show_default=False,
    ),
]


ApiUrl = Annotated[
    list[str] | None,
    typer.Option(
        "--api-url",
        envvar="INTERLINK_API_URL",
        help=(
            "A URL the domain's API is reached at (repeat for several): the OpenAPI `servers`. Without it, `/`: "
            "wherever `interlink run --http` serves it."
        ),
        show_default=False,
    ),
]


class Format(StrEnum):
    """How a document is printed."""

    yaml = "yaml"
    json = "json"


def dump(document: dict[str, Any], format: Format = Format.json) -> str:
    """A document as JSON (indented) or YAML (keys in the document's own order)."""
    if format is Format.yaml:
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@app.command()
def openapi(target: TargetArgument, api_url: ApiUrl = None) -> None:
    """The domain's OpenAPI 3.1 document (JSON), without starting a server: as deployed, behind bearer JWT
    or API key authentication with each operation's scopes."""
    with errors():
        domain = load_domain(target)
        document = build_api(domain, settings=ApiSettings(servers=tuple(api_url or ()))).openapi()
    typer.echo(json.dumps(document, indent=2))


@app.command()
def asyncapi(
    target: TargetArgument,
    format: Annotated[Format, typer.Option("--format", help="yaml or json.")] = Format.yaml,
    broker: DocumentedBroker = None,
) -> None:
    """The domain's AsyncAPI 3.0 document as on the wire: the broker, each message's address and bindings,
    its body (the whole CloudEvent, the message as its data), patterns and replies."""
    with errors():
        document = asyncapi_document(collect(load_domain(target)), broker=broker)
    typer.echo(dump(document, format), nl=False)


@app.command()
def files(target: TargetArgument) -> None:
    """A JSON Schema per inbound file layout of the domain (name -> schema), with the file's format."""
    with errors():
        document = file_schemas(load_domain(target))
    typer.echo(dump(document), nl=False)


@app.command()
def bundle(
    module: Annotated[str, typer.Argument(help="MODULE (every Domain in it) or MODULE:NAME.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write to.")] = Path("specs"),
    broker: DocumentedBroker = None,
    api_url: ApiUrl = None,
) -> None:
    """Every document of every domain of a module in one folder, with an index.html linking them."""
    with errors():
        api = ApiSettings(servers=tuple(api_url or ()))
        written = write_bundle(load_domains(module), out, f"Landscape: {module}", broker=broker, api=api)
    typer.echo(
        f"wrote the specifications of {', '.join(d.name for d in written)} to {out}/ (open {out / 'index.html'})"
    )


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The previous bundle folder (or document).")],
    new: Annotated[Path, typer.Argument(help="The new bundle folder (or document).")],
) -> None:
    """Breaking changes between two versions of the specifications; exit code 1 when there is one. Between
    bundles, each consumer's declared needs (replica fields, notification events and fetches) are checked
    against its producer's new documents too."""
    with errors():
        changes = diff_paths(old, new)
    breaking = [c for c in changes if c.breaking]
    for change in sorted(changes, key=lambda c: (not c.breaking, c.where)):
        typer.echo(str(change))
    typer.echo(f"{len(breaking)} breaking change(s), {len(changes) - len(breaking)} compatible change(s)")
    if breaking:
        raise typer.Exit(1)
