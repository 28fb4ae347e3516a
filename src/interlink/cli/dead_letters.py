"""``interlink dead-letters list|groups|show|replay|discard|edit``: what failed, why, and handling it again once fixed.

Every action is written to the domain's audit log with its actor (``--actor``, default the OS user) and
reason (``--reason``); see docs/operations.md.

``replay`` handles the letters in this process, with the domain's own code and configuration (the same
external service URLs as the domain's runtime), whether the runtime is stopped or running elsewhere: see
:mod:`interlink.runtime.replay` for why that is applied exactly once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from interlink.cli.loading import console, err_console, load_domain, run_async
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
from interlink.core.clock import SystemClock
from interlink.core.domain import Domain
from interlink.delivery.failures import fingerprint
from interlink.delivery.relay import is_parked_outbox
from interlink.exceptions import AdapterError, ConfigurationError, InterlinkError, InvalidInput
from interlink.operations import Operations
from interlink.operations.audit import record
from interlink.operations.letters import letter_summary, letter_view
from interlink.ports.store import AuditRecord, ChangeSet, DeadLetter, Store
from interlink.runtime.backends import open_store
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.replay import LetterFilter, Outcome, find_letters, replaying

__all__ = ["ReplayFailed", "app"]


class ReplayFailed(InterlinkError):
    """A replayed message failed again."""


app = typer.Typer(help="List, show, replay and discard messages parked in a domain's dead-letter store.")

LetterIds = Annotated[list[int] | None, typer.Argument(help="Dead-letter ids; or select with the options.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every parked letter of the domain.")]
SubscriptionOption = Annotated[str | None, typer.Option(help="Only the letters of this subscription.")]
ErrorOption = Annotated[str | None, typer.Option(help="Only the letters whose error contains this text (any case).")]
GroupOption = Annotated[
    str | None, typer.Option("--group", help="Every letter of this group (a fingerprint from `groups`).")
]
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
    as_json: JsonOption = False,
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
        if as_json:
            print_json([letter_view(d).mask() for d in letters])
            return
        console.print(_table(f"dead letters of {domain.name} ({len(letters)})", letters))

    run_async(main)


@app.command()
def groups(target: TargetArgument, store: StoreOption = DEFAULTS["store"], as_json: JsonOption = False) -> None:
    """Parked messages grouped by how they failed (subscription, type, exception, top frame), latest first."""
    domain = load_domain(target)

    async def main() -> None:
        async with operations(domain, store) as ops:
            found = await ops.dead_letter_groups()
        if as_json:
            print_json(found)
            return
        table = Table(title=f"dead-letter groups of {domain.name} ({len(found)})")
        for column in ("fingerprint", "count", "subscription", "type", "error", "top frame", "first seen", "last seen"):
            table.add_column(column, overflow="fold")
        for g in found:
            table.add_row(
                g.fingerprint, str(g.count), g.subscription, g.message_type, g.sample_error[:80], g.top_frame or "",
                g.first_seen.isoformat(timespec="seconds"), g.last_seen.isoformat(timespec="seconds"),
            )  # fmt: skip
        console.print(table)

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
    store: Store,
    domain: Domain,
    ids: Sequence[int],
    everything: bool,
    selection: LetterFilter,
    group: str | None = None,
) -> tuple[list[int], bool]:
    """The letter ids a command takes, and whether they were selected in bulk (so need confirming)."""
    bulk = everything or selection != LetterFilter() or group is not None
    if ids and bulk:
        raise ConfigurationError(
            "name dead-letter ids or select with --all/--group/--subscription/--error-contains, not both"
        )
    if not ids and not bulk:
        raise ConfigurationError(
            "name dead-letter ids, or select them with --all, --group, --subscription or --error-contains"
        )
    if bulk:
        found = await find_letters(store, selection)
        return [d.id for d in found if d.id is not None and group in (None, fingerprint(d))], True
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
    group: GroupOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    actor: ActorOption = None,
) -> None:
    """Handle parked messages again, each once; what they emit is published before this returns.

    Works whether the domain's runtime is stopped or running: the inbox keeps a message from being
    applied twice. A letter that fails again stays parked, and the exit code is 2. Each replay is written to
    the audit log with ``--reason``, which is required (a ``--dry-run`` of a selection changes nothing and
    needs none).
    """
    domain = load_domain(target)
    selection = LetterFilter(subscription, error_contains)
    why = "" if dry_run and not letter_ids else required(reason)
    who = actor or default_actor()

    async def main() -> None:
        async with replaying(domain, store, broker) as replayer:
            s = replayer.runtime.store
            say_store(s)
            ids, bulk = await _select(s, domain, letter_ids or [], everything, selection, group)
            if bulk and not _confirmed("replay", await _letters(s, ids), domain, dry_run, yes):
                return
            counts: dict[str, int] = {}
            failures: list[str] = []
            for letter_id in ids:
                # An outbox message the broker refused (parked by the relay): back into the outbox, published.
                letter = await s.dead_letter(letter_id)
                audit = _auditor(letter, who, why)
                if letter is not None and is_parked_outbox(letter):
                    try:
                        await replayer.runtime.relay.replay_parked(letter_id)
                    except InterlinkError as exc:
                        failures.append(f"dead letter {letter_id} was refused again: {exc}")
                        err_console.print(failures[-1], highlight=False, markup=False)
                        counts["failed"] = counts.get("failed", 0) + 1
                        await s.commit([ChangeSet(audit=[audit("failed", str(exc))])])
                        continue
                    await s.commit([ChangeSet(audit=[audit("replayed", None)])])
                    counts["replayed"] = counts.get("replayed", 0) + 1
                    _say(_SAID["replayed"].format(id=letter_id))
                    continue
                try:
                    outcome = await replayer.replay(letter_id, audit=audit)
                except Exception as exc:  # the handling failed again: the letter stays parked
                    failures.append(
                        f"dead letter {letter_id} failed again and stays parked: {type(exc).__name__}: {exc}"
                    )
                    err_console.print(failures[-1], highlight=False, markup=False)
                    counts["failed"] = counts.get("failed", 0) + 1
                    await s.commit([ChangeSet(audit=[audit("failed", f"{type(exc).__name__}: {exc}")])])
                    continue
                counts[outcome] = counts.get(outcome, 0) + 1
                _say(_SAID[outcome].format(id=letter_id))
            await _publish(replayer.runtime)
            if bulk:
                _say(f"{len(ids)} dead letters: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
            if failures:
                raise ReplayFailed(failures[0] if len(ids) == 1 else f"{len(failures)} of {len(ids)} failed again")

    run_async(main)


def _auditor(letter: DeadLetter | None, actor: str, reason: str) -> Callable[..., AuditRecord]:
    """Makes the audit record of one replay from its outcome (and error, when it failed again)."""
    before = letter_summary(letter) if letter is not None else None
    target = f"dead-letter:{letter.id}" if letter is not None else "dead-letter:?"

    def make(outcome: str, error: str | None = None) -> AuditRecord:
        after = {"outcome": outcome} | ({"error": error} if error else {})
        return record(SystemClock(), actor, "dead_letter.replay", target, reason, before=before, after=after)

    return make


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
    letter_ids: LetterIds = None,
    reason: ReasonOption = None,
    store: StoreOption = DEFAULTS["store"],
    everything: AllOption = False,
    subscription: SubscriptionOption = None,
    error_contains: ErrorOption = None,
    group: GroupOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    actor: ActorOption = None,
) -> None:
    """Drop parked messages without handling them; each is printed with the reason, and audited with its message."""
    domain = load_domain(target)
    selection = LetterFilter(subscription, error_contains)
    why = "" if dry_run and not letter_ids else required(reason)

    async def main() -> None:
        async with open_store(store, domain.name) as s:
            say_store(s)
            ids, bulk = await _select(s, domain, letter_ids or [], everything, selection, group)
            letters = await _letters(s, ids)
            if bulk and not _confirmed("discard", letters, domain, dry_run, yes):
                return
            ops = Operations(domain, s)
            await ops.discard([d.id for d in letters if d.id is not None], actor=actor or default_actor(), reason=why)
        for d in letters:
            _say(f"discarded dead letter {d.id} ({d.message_type} {d.message_id}, {d.subscription}): {why}")
        _say(f"{len(letters)} dead letters discarded")

    run_async(main)


@app.command()
def edit(
    target: TargetArgument,
    letter_id: int,
    payload: Annotated[str, typer.Option("--payload", help="The edited data: a JSON file, or - for stdin.")],
    reason: ReasonOption = None,
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    actor: ActorOption = None,
) -> None:
    """Replay an edited copy of a parked message: new message id, linked to the original (``replayof``).

    The payload is checked against the message type first; the original letter is removed only once the
    copy is handled. Prints the copy's message id.
    """
    domain = load_domain(target)
    why = required(reason)
    text = sys.stdin.read() if payload == "-" else Path(payload).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("--payload must be a JSON object (the message's data)")

    async def main() -> None:
        async with operations(domain, store, broker) as ops:
            new_id = await ops.edit_and_replay(letter_id, data, actor=actor or default_actor(), reason=why)
        _say(f"replayed an edited copy of dead letter {letter_id} as message {new_id}")

    run_async(main)
