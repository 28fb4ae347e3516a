"""``interlink demo``: the reference bank's scripted day, narrated, then counted in the domains' stores."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from interlink.cli.loading import errors, importable_from_cwd, run_async
from interlink.runtime.backends import redact
from interlink.specs import build_landscape, collect
from interlink.specs.diagram import html_page
from interlink.specs.landscape import mermaid

__all__ = ["demo"]

#: A colour per pattern in the narration.
COLOURS = {
    "API Exposure": "cyan",
    "Inbound File": "magenta",
    "State Change Notification": "yellow",
    "Deferred update": "bright_yellow",
    "Event-Carried State Transfer": "green",
    "Event capture": "blue",
    "Command event": "bright_blue",
    "Saga": "bright_magenta",
    "Delivery": "white",
}


def _console() -> Console:
    """A console as wide as the terminal, or 120 columns when the output goes to a file or a pipe (so the
    summary table stays readable in CI logs)."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _shown(url: str | None) -> str:
    return redact(url) if url else "(embedded SQLite in the work dir)"


def _write_landscape(workdir: Path, console: Console) -> None:
    """The bank's landscape diagram, as a self-contained HTML page and as Mermaid, into the work dir."""
    from examples.bank import DOMAINS

    drawn = build_landscape([collect(d) for d in DOMAINS])
    html, text = workdir / "landscape.html", workdir / "landscape.mmd"
    html.write_text(html_page(drawn, "The reference bank"), encoding="utf-8")
    text.write_text(mermaid(drawn), encoding="utf-8")
    console.print(f"the landscape diagram ({len(drawn.nodes)} boxes, {len(drawn.edges)} integrations): "
                  f"{html.resolve()} (and {text.name} for Mermaid)", highlight=False, soft_wrap=True)  # fmt: skip


def demo(
    store: Annotated[
        str | None, typer.Option(help="Store URL with {domain} (default: SQLite files in the work dir).")
    ] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL (default: the SQLite broker in the work dir).")] = None,
    workdir: Annotated[
        Path, typer.Option(help="Where the day's files (and the default SQLite databases) go; emptied first.")
    ] = Path(".interlink/demo"),
    customers: Annotated[int, typer.Option(min=6, max=100_000, help="Customers in the branch file.")] = 100,
    loans: Annotated[int, typer.Option(min=3, max=1000, help="Loan requests submitted over HTTP.")] = 12,
    repayments: Annotated[int, typer.Option(min=1, max=1_000_000, help="Lines of the repayments extract.")] = 50,
    moves: Annotated[int, typer.Option(min=1, max=10_000, help="Address changes of the customer who moves.")] = 100,
) -> None:
    """Run a scripted day at the reference bank (examples/bank), narrating each pattern at work; exit 1
    unless the domains' stores hold exactly what the day put in."""
    importable_from_cwd()
    from examples.bank.day import DayFailed, DayPlan, run_day  # the example is not part of the library

    console = _console()

    def narrate(pattern: str, domain: str, text: str) -> None:
        colour = COLOURS.get(pattern, "white")
        console.print(f"[bold {colour}]{pattern:<28}[/] [dim]{domain:<22}[/] {text}", highlight=False)

    with errors():
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        outage = 3
        plan = DayPlan(customers=customers, loans=min(loans, customers - outage), repayments=repayments, moves=moves,
                       outage_loans=outage)  # fmt: skip
        where = f"store {_shown(store)} and broker {_shown(broker)}"
        console.print(f"[bold]A day at the reference bank[/] on {where}, in {workdir}", highlight=False)
    try:
        result = run_async(lambda: run_day(workdir, store_url=store, broker_url=broker, plan=plan, narrate=narrate))
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
        expected = f"<= {count.expected}" if count.at_most else str(count.expected)
        table.add_row(count.pattern, count.domain, count.what, expected, str(count.found), mark)
    console.print(table)
    with errors():
        _write_landscape(workdir, console)
    if not result.ok:
        console.print("[bold red]demo failed:[/] the stores do not hold what the day put in")
        raise typer.Exit(1)
    console.print("[bold green]ok[/]: every store holds what the day put in")
