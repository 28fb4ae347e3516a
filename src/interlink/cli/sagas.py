"""``interlink sagas list|show``: where each saga of a domain is, and what happened to it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, load_domain, run_async
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.core.sagas import SagaStatus
from interlink.exceptions import ConfigurationError
from interlink.patterns.command_events import list_sagas, load_saga
from interlink.runtime.backends import open_store

app = typer.Typer(help="List and show the sagas a domain orchestrates, with their state and history.")

StatusOption = Annotated[
    str | None, typer.Option(help="Only sagas with this status: " + ", ".join(s.value for s in SagaStatus) + ".")
]


@app.command("list")
def list_(
    target: TargetArgument,
    store: StoreOption = DEFAULTS["store"],
    status: StatusOption = None,
    limit: int = 100,
) -> None:
    """List sagas by id: name, status, step, started, and why it failed or compensated."""
    domain = load_domain(target)
    if status is not None and status not in {s.value for s in SagaStatus}:
        raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status")

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            found = await list_sagas(s, status=status, limit=limit)
        table = Table(title=f"sagas of {domain.name} ({len(found)})")
        for column in ("id", "name", "status", "step", "started at", "reason"):
            table.add_column(column, overflow="fold")
        for saga in found:
            table.add_row(
                saga.id, saga.name, saga.status.value, str(saga.step + 1),
                saga.started_at.isoformat(timespec="seconds"), saga.reason or "",
            )  # fmt: skip
        console.print(table)

    run_async(main)


@app.command()
def show(target: TargetArgument, saga_id: str, store: StoreOption = DEFAULTS["store"]) -> None:
    """Show one saga: its state, its data and its history."""
    domain = load_domain(target)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            saga = await load_saga(s, saga_id)
        if saga is None:
            raise ConfigurationError(f"no saga {saga_id!r} in domain {domain.name!r}")
        console.print(
            f"[bold]{saga.name}[/] {saga.id}: {saga.status.value} at step {saga.step + 1}"
            + (f" ({saga.reason})" if saga.reason else ""),
            highlight=False,
        )
        console.print(f"deadline {saga.deadline.isoformat(timespec='seconds')}", highlight=False)
        console.print_json(data=saga.data)
        table = Table(title="history")
        for column in ("at", "step", "what", "detail"):
            table.add_column(column, overflow="fold")
        for entry in saga.history:
            table.add_row(
                entry.at.isoformat(timespec="milliseconds"), str(entry.step + 1), entry.what, entry.detail or ""
            )
        console.print(table)

    run_async(main)
