"""``interlink teardown``: remove what a namespace created on the broker and what the domains' stores hold."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

import typer

from interlink.cli.loading import errors, run_async
from interlink.cli.migrate import Domains, Targets, domain_names
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption
from interlink.runtime.backends import open_broker, open_store
from interlink.urls import redact

__all__ = ["teardown"]


def _with_namespace(url: str, namespace: str | None) -> str:
    if namespace is None:
        return url
    # Split by hand: urlunsplit would turn sqlite:///file into sqlite:/file.
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "namespace"]
    return f"{base}?{urlencode([*kept, ('namespace', namespace)])}"


def teardown(
    targets: Targets = None,
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    domain: Domains = None,
    namespace: Annotated[
        str | None, typer.Option(help="The broker namespace to remove (default: the broker URL's, or 'interlink').")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete what a namespace created on the broker (exchanges, queues, streams, consumers, keys, tables) and
    the domains' framework tables (or PostgreSQL schemas), messages and data included (docs/migrations.md)."""
    with errors():
        names = domain_names(targets, domain, store)
        broker_url = _with_namespace(broker, namespace)
        stores = [open_store(store, name) for name in names]
        adapter = open_broker(broker_url)
    where = ", ".join(f"{s.domain} ({redact(s.url)})" for s in stores)
    typer.echo(f"This deletes, with every message and record in them:\n  broker {redact(broker_url)}\n  stores {where}")
    if not yes and not typer.confirm("Delete them?", default=False):
        typer.echo("nothing removed")
        raise typer.Exit(1)

    async def main() -> None:
        async with adapter:
            for name in await adapter.teardown():
                typer.echo(f"removed {name}")
        for s in stores:
            for name in await s.teardown():
                typer.echo(f"removed {s.domain}: {name}")

    run_async(main)
