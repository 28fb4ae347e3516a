"""``interlink audit list``: the operators' audit log of a domain (who did what, when, why, before and after).

There is no command to change or remove an entry: the log is append-only, pruned only past its retention.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from interlink.cli.loading import console, load_domain, run_async
from interlink.cli.operating import JsonOption, operations, print_json
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument

__all__ = ["app"]

app = typer.Typer(help="Read the audit log of the actions operators took on a domain.")


@app.command("list")
def list_(
    target: TargetArgument, store: StoreOption = DEFAULTS["store"], limit: int = 100, as_json: JsonOption = False
) -> None:
    """List audit entries, newest first."""
    domain = load_domain(target)

    async def main() -> None:
        async with operations(domain, store) as ops:
            entries = await ops.audit(limit=limit)
        if as_json:
            print_json(entries)
            return
        table = Table(title=f"audit log of {domain.name} ({len(entries)})")
        for column in ("id", "at", "actor", "action", "target", "reason", "after"):
            table.add_column(column, overflow="fold")
        for e in entries:
            after = json.dumps(e.after)[:80] if e.after is not None else ""
            table.add_row(str(e.id), e.at.isoformat(timespec="seconds"), e.actor, e.action, e.target, e.reason, after)
        console.print(table)

    run_async(main)
