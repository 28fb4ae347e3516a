"""``interlink dead-letters list|show|replay|discard``: what failed, why, and handling it again once fixed.

``replay`` handles the letters in this process, with the domain's own code and configuration (the same
external service URLs as the domain's runtime), whether the runtime is stopped or running elsewhere: see
:mod:`interlink.runtime.replay` for why that is applied exactly once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, err_console, load_domain, run_async
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.core.domain import Domain
from interlink.delivery.relay import is_parked_outbox
from interlink.exceptions import AdapterError, ConfigurationError, InterlinkError
from interlink.ports.store import DeadLetter, Store
from interlink.runtime.backends import open_store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.replay import LetterFilter, Outcome, discard_letters, find_letters, replaying

__all__ = ["ReplayFailed", "app"]


class ReplayFailed(InterlinkError):
    """A replayed message failed again."""


app = typer.Typer(help="List, show, replay and discard messages parked in a domain's dead-letter store.")

LetterIds = Annotated[list[int] | None, typer.Argument(help="Dead-letter ids; or select with the options.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every parked letter of the domain.")]
SubscriptionOption = Annotated[str | None, typer.Option(help="Only the letters of this subscription.")]
ErrorOption = Annotated[str | None, typer.Option(help="Only the letters whose error contains this text (any case).")]
DryRunOption = Annotated[bool, typer.Option(help="Show what the selection takes, and change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before handling a selection.")]


def _say(text: str) -> None:
    """One line of output, never wrapped (scripts read these)."""
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _table(title: str, letters: Sequence[DeadLetter]) -> Table:
    table = Table(title=title)
    for column in ("id", "subscription", "type", "message id", "attempts", "failed at", "error"):
        table.add_column(column, overflow="fold")
    for d in letters:
        table.add_row(
            str(d.id), d.subscription, d.message_type, d.message_id, str(d.attempts),
            d.failed_at.isoformat(timespec="seconds"), d.error[:120],
        )  # fmt: skip
    return table


@app.command("list")
def list_(
    target: TargetArgument,
    store: StoreOption = DEFAULTS["store"],
    limit: int = 100,
    subscription: SubscriptionOption = None,
    error_contains: ErrorOption = None,
) -> None:
    """List parked messages, oldest first."""
    domain = load_domain(target)
    selection = LetterFilter(subscription, error_contains)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            if error_contains:
                letters = (await find_letters(s, selection))[:limit]
            else:
                letters = await s.dead_letters(subscription, limit=limit)
        console.print(_table(f"dead letters of {domain.name} ({len(letters)})", letters))

    run_async(main)


@app.command()
def show(target: TargetArgument, letter_id: int, store: StoreOption = DEFAULTS["store"]) -> None:
    """Show one parked message in full: the error and the envelope."""
    domain = load_domain(target)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            letter = await s.dead_letter(letter_id)
        if letter is None:
            raise ConfigurationError(f"no dead letter {letter_id} in domain {domain.name!r}")
        console.print(f"[bold]error[/] ({letter.attempts} attempts): {letter.error}", highlight=False)
        try:
            console.print_json(letter.body.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            console.print(repr(letter.body))

    run_async(main)


async def _select(
    store: Store, domain: Domain, ids: Sequence[int], everything: bool, selection: LetterFilter
) -> tuple[list[int], bool]:
    """The letter ids a command takes, and whether they were selected in bulk (so need confirming)."""
    bulk = everything or selection != LetterFilter()
    if ids and bulk:
        raise ConfigurationError("name dead-letter ids or select with --all/--subscription/--error-contains, not both")
    if not ids and not bulk:
        raise ConfigurationError("name dead-letter ids, or select them with --all, --subscription or --error-contains")
    if bulk:
        return [d.id for d in await find_letters(store, selection) if d.id is not None], True
    missing = [i for i in dict.fromkeys(ids) if await store.dead_letter(i) is None]
    if missing:
        raise ConfigurationError(f"no dead letter {', '.join(map(str, missing))} in domain {domain.name!r}")
    return list(dict.fromkeys(ids)), False


def _confirmed(verb: str, letters: list[DeadLetter], domain: Domain, dry_run: bool, yes: bool) -> bool:
    """Print what a bulk selection takes; True when it is to be handled (confirmed, or ``--yes``)."""
    _say(f"{len(letters)} dead letters of {domain.name} match")
    if dry_run:
        if letters:
            console.print(_table(f"would {verb}", letters))
        _say(f"dry run: nothing was {verb}ed")
        return False
    if not letters or yes:
        return bool(letters)
    if not sys.stdin.isatty():
        raise ConfigurationError(f"{len(letters)} dead letters would be {verb}ed: pass --yes to go ahead")
    return typer.confirm(f"{verb.capitalize()} {len(letters)} dead letters?")


async def _letters(store: Store, ids: list[int]) -> list[DeadLetter]:
    return [d for d in [await store.dead_letter(i) for i in ids] if d is not None]


_SAID: dict[Outcome, str] = {
    "replayed": "replayed dead letter {id}",
    "processed": "dead letter {id} was processed already (the inbox holds its message): removed",
    "gone": "dead letter {id} is gone: replayed or discarded elsewhere meanwhile",
}


@app.command()
def replay(
    target: TargetArgument,
    letter_ids: LetterIds = None,
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    everything: AllOption = False,
    subscription: SubscriptionOption = None,
    error_contains: ErrorOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Handle parked messages again, each once; what they emit is published before this returns.

    Works whether the domain's runtime is stopped or running: the inbox keeps a message from being
    applied twice. A letter that fails again stays parked, and the exit code is 2.
    """
    domain = load_domain(target)
    selection = LetterFilter(subscription, error_contains)

    async def main() -> None:
        async with replaying(domain, store, broker) as replayer:
            s = replayer.runtime.store
            say_store(s)
            ids, bulk = await _select(s, domain, letter_ids or [], everything, selection)
            if bulk and not _confirmed("replay", await _letters(s, ids), domain, dry_run, yes):
                return
            counts: dict[str, int] = {}
            failures: list[str] = []
            for letter_id in ids:
                # An outbox message the broker refused (parked by the relay): back into the outbox, published.
                letter = await s.dead_letter(letter_id)
                if letter is not None and is_parked_outbox(letter):
                    try:
                        await replayer.runtime.relay.replay_parked(letter_id)
                    except InterlinkError as exc:
                        failures.append(f"dead letter {letter_id} was refused again: {exc}")
                        err_console.print(failures[-1], highlight=False, markup=False)
                        counts["failed"] = counts.get("failed", 0) + 1
                        continue
                    counts["replayed"] = counts.get("replayed", 0) + 1
                    _say(_SAID["replayed"].format(id=letter_id))
                    continue
                try:
                    outcome = await replayer.replay(letter_id)
                except Exception as exc:  # the handling failed again: the letter stays parked
                    failures.append(
                        f"dead letter {letter_id} failed again and stays parked: {type(exc).__name__}: {exc}"
                    )
                    err_console.print(failures[-1], highlight=False, markup=False)
                    counts["failed"] = counts.get("failed", 0) + 1
                    continue
                counts[outcome] = counts.get(outcome, 0) + 1
                _say(_SAID[outcome].format(id=letter_id))
            await _publish(replayer.runtime)
            if bulk:
                _say(f"{len(ids)} dead letters: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
            if failures:
                raise ReplayFailed(failures[0] if len(ids) == 1 else f"{len(failures)} of {len(ids)} failed again")

    run_async(main)


async def _publish(runtime: DomainRuntime) -> None:
    try:
        published = await runtime.relay.publish_pending()
    except AdapterError as exc:
        # Committed all the same: the outbox keeps the messages for the domain's relay.
        err_console.print(
            f"warning: the messages the replay emitted wait in the outbox ({exc}); the domain's relay sends them",
            highlight=False,
            markup=False,
        )
        return
    if published:
        _say(f"published {published} outbox messages")


@app.command()
def discard(
    target: TargetArgument,
    reason: Annotated[str, typer.Option(help="Why the letters are dropped (printed with each one).")],
    letter_ids: LetterIds = None,
    store: StoreOption = DEFAULTS["store"],
    everything: AllOption = False,
    subscription: SubscriptionOption = None,
    error_contains: ErrorOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Drop parked messages without handling them; each is printed with the reason."""
    domain = load_domain(target)
    selection = LetterFilter(subscription, error_contains)
    if not reason.strip():
        raise ConfigurationError("--reason must say why the letters are dropped")

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            ids, bulk = await _select(s, domain, letter_ids or [], everything, selection)
            letters = await _letters(s, ids)
            if bulk and not _confirmed("discard", letters, domain, dry_run, yes):
                return
            await discard_letters(s, [d.id for d in letters if d.id is not None])
        for d in letters:
            _say(f"discarded dead letter {d.id} ({d.message_type} {d.message_id}, {d.subscription}): {reason}")
        _say(f"{len(letters)} dead letters discarded")

    run_async(main)
