"""``interlink replica rebuild MODULE:DOMAIN --replica NAME``: fill a replica from the producer's API and/or
the broker's retained history.

Safe while the domain runs elsewhere: the subscription is declared before the first page is read, and
pages, history and live events all apply only newer versions (see
:mod:`interlink.patterns.state_transfer.rebuild`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from interlink.cli.loading import console, errors, load_domain, run_async
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.core.external import ExternalService
from interlink.exceptions import ConfigurationError
from interlink.patterns.state_transfer import RebuildReport, ReplicaRebuild
from interlink.runtime.backends import open_broker, open_store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.settings import Settings


class Source(StrEnum):
    """Where a rebuild reads the producer's state."""

    API = "api"
    HISTORY = "history"
    BOTH = "both"


app = typer.Typer(help="Bootstrap and repair the replicas a domain keeps of other domains' aggregates.")


@app.command()
def rebuild(
    target: TargetArgument,
    replica: Annotated[str, typer.Option("--replica", help="The replica's name, as the domain declares it.")],
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    source_url: Annotated[
        str | None, typer.Option(help="Base URL of the producer's API (else INTERLINK_SERVICE_<NAME>_URL).")
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Aggregates per page and per transaction.")] = 200,
    from_: Annotated[
        Source | None,
        typer.Option(
            "--from",
            help="api: the producer's list query; history: the broker's retained events (NATS); both: history, "
            "then api. Default: api when the replica declares a source, else history.",
        ),
    ] = None,
) -> None:
    """Page through the producer's list query and apply every aggregate newer than the copy."""
    with errors():
        domain = load_domain(target)
        spec = domain.replicas.get(replica)
        if spec is None:
            raise ConfigurationError(
                f"domain {domain.name!r} declares no replica {replica!r}; it has {sorted(domain.replicas)}"
            )
    urls = {spec.source.name: source_url} if source_url and spec.source is not None else {}
    source = from_ or (Source.API if spec.source is not None else Source.HISTORY)

    async def main() -> RebuildReport:
        async with open_broker(broker) as b, open_store(store, domain.name) as s:
            say_store(s)
            settings = Settings(store_url=store, broker_url=broker, service_urls=urls)
            # Reading only the history needs no API, so no base URL either.
            no_api = _NoApi() if source is Source.HISTORY else None
            runtime = DomainRuntime(domain, s, b, settings, external=no_api)
            # Declaring the subscription first is what leaves no gap: every later change arrives as an event.
            await runtime.prepare()
            try:
                job = ReplicaRebuild(
                    domain, replica, s, runtime.committer, runtime.external, runtime.clock, page_size=page_size
                )
                with Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[pages]} pages, {task.completed} read, {task.fields[applied]} applied"),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    report = RebuildReport()
                    if source in (Source.HISTORY, Source.BOTH):
                        report = await job.run_history(b, on_page=_shown(bar, f"{replica} from the broker's history"))
                    if source in (Source.API, Source.BOTH):
                        api = await job.run(on_page=_shown(bar, f"{replica} from the producer's API"))
                        report = RebuildReport(
                            report.pages + api.pages,
                            report.items + api.items,
                            report.applied + api.applied,
                            report.retried_pages + api.retried_pages,
                        )
                return report
            finally:
                await runtime.stop()

    report = run_async(main)
    console.print(
        f"replica {replica!r} of {domain.name}: {report.items} states read in {report.pages} pages, "
        f"{report.applied} applied (the others were as new already), {report.retried_pages} pages retried"
    )


def _shown(bar: Progress, description: str) -> Callable[[RebuildReport], None]:
    """A progress line of its own for one source, updated after each page."""
    task = bar.add_task(description, total=None, pages=0, applied=0)

    def show(report: RebuildReport) -> None:
        bar.update(task, completed=report.items, pages=report.pages, applied=report.applied)

    return show


class _NoApi:
    """The external services of a rebuild that reads only the broker's history."""

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        raise ConfigurationError(f"a rebuild --from history does not call {service.name!r}")


def register(main: typer.Typer) -> None:
    """Add this pattern's commands to the ``interlink`` command."""
    main.add_typer(app, name="replica")
