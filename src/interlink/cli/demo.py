"""``interlink demo``: the reference bank's scripted day, narrated, then counted in the domains' stores."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, errors, importable_from_cwd, run_async
from interlink.runtime.backends import redact

__all__ = ["demo"]

#: A colour per pattern in the narration.
COLOURS = {
    "API Exposure": "cyan",
    "Inbound File": "magenta",
    "State Change Notification": "yellow",
    "Event-Carried State Transfer": "green",
    "Event capture": "blue",
}


def _narrate(pattern: str, domain: str, text: str) -> None:
    colour = COLOURS.get(pattern, "white")
    console.print(f"[bold {colour}]{pattern:<28}[/] [dim]{domain:<22}[/] {text}", highlight=False)


def _shown(url: str | None) -> str:
    return redact(url) if url else "(embedded SQLite in the work dir)"


def demo(
    store: Annotated[
        str | None, typer.Option(help="Store URL with {domain} (default: SQLite files in the work dir).")
    ] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL (default: the SQLite broker in the work dir).")] = None,
    workdir: Annotated[
        Path, typer.Option(help="Where the day's files (and the default SQLite databases) go; emptied first.")
    ] = Path(".interlink/demo"),
    customers: Annotated[int, typer.Option(min=3, max=100_000, help="Customers in the branch file.")] = 100,
    loans: Annotated[int, typer.Option(min=3, max=1000, help="Loan requests submitted over HTTP.")] = 12,
    repayments: Annotated[int, typer.Option(min=1, max=1_000_000, help="Lines of the repayments extract.")] = 50,
) -> None:
    """Run a scripted day at the reference bank (examples/bank), narrating each pattern at work; exit 1
    unless the domains' stores hold exactly what the day put in."""
    importable_from_cwd()
    from examples.bank.day import DayFailed, DayPlan, run_day  # the example is not part of the library

    with errors():
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        plan = DayPlan(customers=customers, loans=min(loans, customers), repayments=repayments)
        where = f"store {_shown(store)} and broker {_shown(broker)}"
        console.print(f"[bold]A day at the reference bank[/] on {where}, in {workdir}", highlight=False)
    try:
        result = run_async(lambda: run_day(workdir, store_url=store, broker_url=broker, plan=plan, narrate=_narrate))
    except DayFailed as exc:
        console.print(f"[bold red]demo failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    table = Table(title=f"the day, counted in the domains' stores ({result.seconds:.1f}s)")
    table.add_column("pattern", no_wrap=True)
    table.add_column("domain", no_wrap=True)
    table.add_column("what")
    table.add_column("put in", justify="right")
    table.add_column("in the store", justify="right")
    table.add_column("", no_wrap=True)
    for count in result.counts:
        mark = "[green]ok[/]" if count.ok else "[bold red]MISMATCH[/]"
        table.add_row(count.pattern, count.domain, count.what, str(count.expected), str(count.found), mark)
    console.print(table)
    if not result.ok:
        console.print("[bold red]demo failed:[/] the stores do not hold what the day put in")
        raise typer.Exit(1)
    console.print("[bold green]ok[/]: every store holds what the day put in")
