"""``interlink advise``: which of notification, deferred update or state transfer fits each subscription.

For notification subscriptions it reads the counters the notification pattern keeps in the domain's store
(notifications received, fetches made, reads served, pending flags) and applies
:func:`interlink.patterns.notification.advise`; for replicas it counts the copies and compares the fields
the replica reads with those the event carries (:func:`interlink.patterns.state_transfer.advise_replica`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from interlink.cli.loading import console, load_domains, run_async
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.patterns.notification import Advice, advise, subscription_figures
from interlink.patterns.state_transfer import ReplicaAdvice, advise_replica, replica_figures
from interlink.runtime.backends import open_store

__all__ = ["advise_command"]


def advise_command(target: TargetArgument, store: StoreOption = DEFAULTS["store"]) -> None:
    """For each notification subscription of the domain(s): the pattern that fits the observed traffic."""
    domains = load_domains(target)

    async def main() -> None:
        now = datetime.now(UTC)
        for domain in domains:
            if not domain.notifications and not domain.replicas:
                console.print(f"{domain.name}: no notification subscriptions or replicas to advise on")
                continue
            async with open_store(store, domain.name) as s:
                say_store(s)
                advice = [advise(await subscription_figures(s, spec), now) for spec in domain.notifications.values()]
                replicas = [advise_replica(await replica_figures(s, spec)) for spec in domain.replicas.values()]
            if advice:
                console.print(_table(domain.name, advice, now))
            if replicas:
                console.print(_replica_table(domain.name, replicas))

    run_async(main)


def _table(domain: str, advice: list[Advice], now: datetime) -> Table:
    table = Table(title=f"pattern advice for {domain}", show_lines=True)
    for column, justify in [
        ("subscription", "left"), ("now", "left"), ("changes", "right"), ("reads", "right"),
        ("changes/min", "right"), ("reads/min", "right"), ("fetches", "right"), ("fetch ms", "right"),
        ("payload B", "right"), ("pending", "right"), ("oldest pending", "right"), ("advice", "left"),
        ("why", "left"),
    ]:  # fmt: skip
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for a in advice:
        f = a.figures
        oldest = f"{(now - f.oldest_pending).total_seconds():.0f}s" if f.oldest_pending else "-"
        table.add_row(
            f.subscription, f.pattern, str(f.received), str(f.served), _number(a.changes_per_minute),
            _number(a.reads_per_minute), str(f.fetches), _number(f.mean_fetch_ms), _number(f.mean_payload_bytes, 0),
            str(f.pending), oldest, f"[bold]{a.recommendation}[/]", a.reason,
        )  # fmt: skip
    return table


def _replica_table(domain: str, advice: list[ReplicaAdvice]) -> Table:
    table = Table(title=f"state transfer advice for {domain}", show_lines=True)
    columns = ("replica", "event", "copies", "tombstones", "changes", "fields read", "mean copy B", "advice", "why")
    for column in columns:
        table.add_column(column, overflow="fold")
    for a in advice:
        f = a.figures
        table.add_row(
            f.replica, f.event, str(f.copies), str(f.tombstones), str(f.changes),
            f"{len(f.fields_read)}/{len(f.fields_sent)}", _number(f.mean_copy_bytes, 0), f"[bold]{a.recommendation}[/]",
            a.reason,
        )  # fmt: skip
    return table


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
