"""``interlink sagas list|show|retry|compensate|abandon``: where each saga of a domain is, what happened to it,
and what an operator does to one that is stuck (each action audited, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, load_domain, run_async
from interlink.cli.operating import (
    ActorOption,
    JsonOption,
    ReasonOption,
    default_actor,
    operations,
    print_json,
    required,
)
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.exceptions import ConfigurationError
from interlink.patterns.command_events import list_sagas, load_saga
from interlink.patterns.command_events.sagas import SagaStatus
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
    definition: Annotated[str | None, typer.Option(help="Only sagas of this declared saga (its name).")] = None,
    older_than: Annotated[
        float | None, typer.Option(help="Only sagas started more than this many seconds ago.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List sagas by id: name, status, step, started, and why it failed or compensated."""
    domain = load_domain(target)
    if status is not None and status not in {s.value for s in SagaStatus}:
        raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status")

    async def main() -> None:
        if as_json or definition is not None or older_than is not None:
            async with operations(domain, store) as ops:
                views = await ops.sagas(state=status, definition=definition, older_than=older_than, limit=limit)
            if as_json:
                print_json(views)
                return
            table = Table(title=f"sagas of {domain.name} ({len(views)})")
            for column in ("id", "name", "status", "step", "started at", "reason"):
                table.add_column(column, overflow="fold")
            for v in views:
                table.add_row(
                    v.id, v.name, v.status, str(v.step), v.started_at.isoformat(timespec="seconds"), v.reason or ""
                )
            console.print(table)
            return
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


SagaIdArgument = Annotated[str, typer.Argument(help="The saga's id (see `sagas list`).")]


def _act(
    target: str, saga_id: str, store: str, broker: str | None, reason: str | None, actor: str | None, verb: str
) -> None:
    domain = load_domain(target)
    why, who = required(reason), actor or default_actor()

    async def main() -> None:
        async with operations(domain, store, broker) as ops:
            action = {"retry": ops.retry_saga_step, "compensate": ops.compensate_saga, "abandon": ops.abandon_saga}
            await action[verb](saga_id, actor=who, reason=why)
            view = (await ops.saga(saga_id)).saga
        console.print(f"saga {saga_id}: {verb} done; now {view.status} at step {view.step}", highlight=False)

    run_async(main)


@app.command()
def retry(
    target: TargetArgument,
    saga_id: SagaIdArgument,
    reason: ReasonOption = None,
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    actor: ActorOption = None,
) -> None:
    """Re-send the command the saga waits for, under the same command id (a receiver that ran it answers again)."""
    _act(target, saga_id, store, broker, reason, actor, "retry")


@app.command()
def compensate(
    target: TargetArgument,
    saga_id: SagaIdArgument,
    reason: ReasonOption = None,
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    actor: ActorOption = None,
) -> None:
    """Fail the running saga's current step with the reason: the compensations of the steps before it run."""
    _act(target, saga_id, store, broker, reason, actor, "compensate")


@app.command()
def abandon(
    target: TargetArgument,
    saga_id: SagaIdArgument,
    reason: ReasonOption = None,
    store: StoreOption = DEFAULTS["store"],
    actor: ActorOption = None,
) -> None:
    """End the saga as abandoned: no more steps, no compensations."""
    _act(target, saga_id, store, None, reason, actor, "abandon")


def register(main: typer.Typer) -> None:
    """Add this pattern's commands to the ``interlink`` command."""
    main.add_typer(app, name="sagas")
