"""``interlink advise``: which of notification, deferred update or state transfer fits each integration.

For notification subscriptions it reads the counters the notification pattern keeps in the domain's store
(notifications received, fetches made, ``ctx.fresh`` reads) and the reads of the kept copy the runtime
counts (``ctx.get`` / ``find`` / ``list``), and applies :func:`interlink.patterns.notification.advise`; for
replicas it counts the copies and their reads and compares the fields the replica reads with those the event
carries (:func:`interlink.patterns.state_transfer.advise_replica`). Each integration is printed as a short
list (the pattern in use, the one that fits, the figures, why, and what switching would change) that fits
100 columns, or with ``--format json`` as one JSON document.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from interlink.cli.loading import load_domains, run_async
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.patterns.notification import Advice, advise, subscription_figures
from interlink.patterns.state_transfer import ReplicaAdvice, advise_replica, replica_figures
from interlink.runtime.backends import open_store

__all__ = ["WIDTH", "advise_command", "render"]

#: The printed advice never needs a wider terminal than this.
WIDTH = 100
NOT_MEASURED = "not measured"


class AdviceFormat(StrEnum):
    """How the advice is printed."""

    text = "text"
    json = "json"


def advise_command(
    target: TargetArgument,
    store: StoreOption = DEFAULTS["store"],
    format: Annotated[
        AdviceFormat, typer.Option("--format", help="text (a list per integration, 100 columns) or json.")
    ] = AdviceFormat.text,
) -> None:
    """For each notification subscription and replica of the domain(s): the pattern that fits the observed
    traffic, the figures behind it, and what switching would change."""
    domains = load_domains(target)

    async def main() -> None:
        now = datetime.now(UTC)
        found: dict[str, list[Advice | ReplicaAdvice]] = {}
        for domain in domains:
            if not domain.notifications and not domain.replicas:
                found[domain.name] = []
                continue
            async with open_store(store, domain.name) as s:
                say_store(s)
                advice: list[Advice | ReplicaAdvice] = [
                    advise(await subscription_figures(s, spec), now) for spec in domain.notifications.values()
                ]
                advice += [advise_replica(await replica_figures(s, spec)) for spec in domain.replicas.values()]
            found[domain.name] = advice
        if format is AdviceFormat.json:
            document = {name: [a.as_dict() for a in advice] for name, advice in found.items()}
            typer.echo(json.dumps({"advised_at": now.isoformat(), "domains": document}, indent=2))
        else:
            typer.echo(render(found))

    run_async(main)


def render(found: dict[str, list[Advice | ReplicaAdvice]]) -> str:
    """The advice as text, every line at most :data:`WIDTH` characters."""
    lines: list[str] = []
    for domain, advice in found.items():
        if not advice:
            lines.append(f"{domain}: no notification subscriptions or replicas to advise on")
            continue
        lines.append(f"pattern advice for {domain}")
        for item in advice:
            lines.append("")
            lines.extend(_entry(item.as_dict()))
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _entry(advice: dict[str, Any]) -> list[str]:
    switch = "switch to" if advice["switch"] else "keep"
    head = f"  {advice['integration']} ({advice['kind']})"
    rows = [
        ("in use", advice["in_use"]),
        ("fits", f"{advice['fits']} ({switch})" if advice["switch"] else advice["fits"]),
        ("figures", _figures(advice["figures"])),
        ("why", advice["why"]),
    ]
    if advice["effect_of_switching"]:
        rows.append(("switching", advice["effect_of_switching"]))
    lines = [textwrap.shorten(head, WIDTH, placeholder="...")]
    for label, text in rows:
        lines += textwrap.wrap(
            text, WIDTH, initial_indent=f"    {label + ':':<11}", subsequent_indent=" " * 15, break_long_words=True
        )
    return lines


def _figures(figures: dict[str, Any]) -> str:
    """The figures as one sentence, "not measured" where a figure is missing."""
    shown = []
    for name, unit in [
        ("changes", ""), ("reads", ""), ("changes_per_minute", "/min changes"), ("reads_per_minute", "/min reads"),
        ("fetches", ""), ("mean_fetch_ms", " ms per fetch"), ("mean_payload_bytes", " B per payload"),
        ("pending", ""), ("copies", ""), ("mean_copy_bytes", " B per copy"),
    ]:  # fmt: skip
        if name not in figures:
            continue
        value = figures[name]
        label = name.replace("_", " ")
        if value is None:
            shown.append(f"{label} {NOT_MEASURED}")
        elif unit:
            shown.append(f"{value:.1f}{unit}")
        else:
            shown.append(f"{label} {value}")
    if "fields_read" in figures:
        shown.append(f"fields read {len(figures['fields_read'])} of {len(figures['fields_sent'])}")
    if figures.get("reacts_to_every_change"):
        shown.append("reacts to every change")
    return ", ".join(shown)
