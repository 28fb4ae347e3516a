"""``interlink migrate``: create or upgrade the store's schema of each domain, or print the SQL it would run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from interlink.adapters.stores.sql_schema import MigrationReport, SqlSchema
from interlink.cli.loading import load_domains, run_async
from interlink.cli.options import DEFAULTS, StoreOption
from interlink.cli.store_note import say_store
from interlink.core.indexed import declared_indexes
from interlink.exceptions import ConfigurationError
from interlink.runtime.backends import open_store
from interlink.urls import redact

__all__ = ["domain_names", "migrate"]

Targets = Annotated[
    list[str] | None, typer.Argument(help="MODULE:DOMAIN (or MODULE) whose stores to act on; or use --domain.")
]
Domains = Annotated[list[str] | None, typer.Option("--domain", help="A domain name (repeatable), instead of MODULE.")]


def domain_names(targets: list[str] | None, domains: list[str] | None, store: str) -> list[str]:
    """The domains named by MODULE targets and ``--domain``; with none, the store URL must name one database."""
    return list(_query_fields(targets, domains, store))


def _query_fields(
    targets: list[str] | None, domains: list[str] | None, store: str
) -> dict[str, Mapping[str, Sequence[str]]]:
    """Each domain named by MODULE targets and ``--domain``, with its declared query fields (none known for a
    ``--domain`` name); with none named, the store URL must name one database."""
    found: dict[str, Mapping[str, Sequence[str]]] = {}
    for domain in (d for t in targets or [] for d in load_domains(t)):
        found[domain.name] = declared_indexes(domain)
    for name in domains or []:
        found.setdefault(name, {})
    if found:
        return found
    parts = urlsplit(store)
    if "{domain}" in store or (parts.scheme == "postgresql" and "schema" not in parse_qs(parts.query)):
        raise ConfigurationError(
            f"the store URL {redact(store)!r} depends on the domain: name the domains (MODULE:DOMAIN or --domain NAME)"
        )
    return {"interlink": {}}


def migrate(
    targets: Targets = None,
    store: StoreOption = DEFAULTS["store"],
    domain: Domains = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL it would run; change nothing.")] = False,
) -> None:
    """Create the store's tables, or apply its pending schema migrations, and the indexes of the query fields
    the MODULE's domains declare (docs/migrations.md).

    Prints the current and target schema versions and the SQL, as a script on stdout. Run it with a role that
    has DDL rights before starting a release; the runtime then needs none (`?migrate=never` in the store URL
    makes it refuse a schema that is behind instead of migrating it).
    """
    named = _query_fields(targets, domain, store)

    async def main() -> None:
        for name, fields in named.items():
            adapter = open_store(store, name)
            say_store(adapter)
            if not isinstance(adapter, SqlSchema):
                typer.echo(f"-- {name}: a {adapter.scheme} store has no schema to migrate")
                continue
            _show(name, await adapter.migrate(dry_run=dry_run, query_fields=fields))

    run_async(main)


def _show(name: str, report: MigrationReport) -> None:
    current = "none (no tables)" if report.current is None else str(report.current)
    typer.echo(
        f"-- {name}: schema version {current} -> {report.target} "
        f"(usable by Interlink from schema version {report.compatible_from} on)"
    )
    for statement in report.statements:
        typer.echo(statement if statement.startswith("--") else f"{statement};")  # a comment: a data change
    run = [s for s in report.statements if not s.startswith("--")]
    if not run:
        newer = report.current is not None and report.current > report.target
        outcome = f"the database is newer than this Interlink ({report.target})" if newer else "up to date"
        outcome += "; nothing to do"
    elif report.dry_run:
        outcome = f"dry run: {len(run)} statement(s) not run, nothing changed"
    else:
        outcome = f"{len(run)} statement(s) run"
    typer.echo(f"-- {name}: {outcome}")
