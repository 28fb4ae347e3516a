"""``interlink dead-letters list|show|replay``: what failed, why, and handling it again once fixed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, load_domain, run_async
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption, TargetArgument
from interlink.delivery.relay import is_parked_outbox
from interlink.exceptions import ConfigurationError, InterlinkError
from interlink.runtime.backends import open_broker, open_store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.settings import Settings


class ReplayFailed(InterlinkError):
    """A replayed message failed again."""


app = typer.Typer(help="List, show and replay messages parked in a domain's dead-letter store.")


@app.command("list")
def list_(target: TargetArgument, store: StoreOption = DEFAULTS["store"], limit: int = 100) -> None:
    """List parked messages, oldest first."""
    domain = load_domain(target)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            letters = await s.dead_letters(limit=limit)
        table = Table(title=f"dead letters of {domain.name} ({len(letters)})")
        for column in ("id", "subscription", "type", "message id", "attempts", "failed at", "error"):
            table.add_column(column, overflow="fold")
        for d in letters:
            table.add_row(
                str(d.id), d.subscription, d.message_type, d.message_id, str(d.attempts),
                d.failed_at.isoformat(timespec="seconds"), d.error[:120],
            )  # fmt: skip
        console.print(table)

    run_async(main)


@app.command()
def show(target: TargetArgument, letter_id: int, store: StoreOption = DEFAULTS["store"]) -> None:
    """Show one parked message in full: the error and the envelope."""
    domain = load_domain(target)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            letter = await s.dead_letter(letter_id)
        if letter is None:
            raise ConfigurationError(f"no dead letter {letter_id} in domain {domain.name!r}")
        console.print(f"[bold]error[/] ({letter.attempts} attempts): {letter.error}", highlight=False)
        try:
            console.print_json(letter.body.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            console.print(repr(letter.body))

    run_async(main)


@app.command()
def replay(
    target: TargetArgument,
    letter_ids: Annotated[list[int], typer.Argument(help="Dead-letter ids to replay.")],
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
) -> None:
    """Handle parked messages again, each once; what they emit is published before this returns."""
    domain = load_domain(target)

    async def main() -> None:
        async with open_broker(broker) as b, open_store(store, domain.name) as s:
            runtime = DomainRuntime(domain, s, b, Settings(store_url=store, broker_url=broker))
            for letter_id in letter_ids:
                # An outbox message the broker refused (parked by the relay): back into the outbox, published.
                if (letter := await s.dead_letter(letter_id)) is not None and is_parked_outbox(letter):
                    await runtime.relay.replay_parked(letter_id)
                    console.print(f"replayed dead letter {letter_id}")
                    continue
                try:
                    await runtime.replay_dead_letter(letter_id)
                except InterlinkError:
                    raise
                except Exception as exc:  # the handler failed again: the letter stays parked
                    await runtime.relay.publish_pending()
                    raise ReplayFailed(
                        f"dead letter {letter_id} failed again and stays parked: {type(exc).__name__}: {exc}"
                    ) from exc
                console.print(f"replayed dead letter {letter_id}")
            await runtime.relay.publish_pending()

    run_async(main)
