"""The ``interlink`` command."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interlink.cli import dead_letters, outbox
from interlink.cli.loading import console, err_console, errors, importable_from_cwd, load_domains, run_async
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption
from interlink.exceptions import InterlinkError
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import redact

app = typer.Typer(
    help="Interlink: run and inspect a bank's service domains.", no_args_is_help=True, add_completion=False
)
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(outbox.app, name="outbox")


@app.command()
def run(
    targets: Annotated[list[str], typer.Argument(help="MODULE:DOMAIN (or MODULE for all its domains), one or more.")],
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run domains: their relays and consumers, until SIGINT or SIGTERM (then stop gracefully)."""
    logging.basicConfig(level=log_level.upper(), handlers=[RichHandler(console=console)], format="%(message)s")
    with errors():
        domains = [d for t in targets for d in load_domains(t)]
        settings = Settings(store_url=store, broker_url=broker)
        runtime = Runtime(domains, settings)
    console.print(
        f"running {', '.join(d.name for d in domains)} on store {redact(store)} and broker {redact(broker)}",
        highlight=False,
    )
    run_async(runtime.serve)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, max=100_000, help="How many customers to register.")] = 500,
    workdir: Annotated[Path, typer.Option(help="Where the demo's SQLite files go (emptied first).")] = Path(
        ".interlink/demo"
    ),
) -> None:
    """Run the reference bank landscape on the embedded SQLite default and check every event got through."""
    importable_from_cwd()
    from examples.bank.demo import run_demo  # the example is not part of the library

    with errors():
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks = {
            "registered": bar.add_task("customer: RegisterCustomer commands", total=customers),
            "handled": bar.add_task("loan-request: CustomerRegistered handled", total=customers),
        }
        report = run_async(lambda: run_demo(workdir, customers, lambda step, n: bar.advance(tasks[step], n)))
    table = Table(title="bank landscape: customer -> loan-request (embedded SQLite store and broker)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in vars(report).items():
        table.add_row(name.replace("_", " "), f"{value:.2f}" if isinstance(value, float) else str(value))
    console.print(table)
    ok = report.credit_files_found == customers and report.events_handled == customers and not report.dead_letters
    if not ok:
        console.print("[bold red]demo failed:[/] not every customer got exactly one credit file")
        raise typer.Exit(1)
    console.print(f"[bold green]ok[/]: {customers} commands -> {customers} events -> {customers} credit files")


def main() -> None:
    """Entry point of the ``interlink`` script."""
    try:
        app()
    except InterlinkError as exc:  # raised outside a command's own error handling
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
