"""The landscape page: the diagram of the console's domains, each arrow with its recent rate, lag and dead
letters, refreshed by the page's script from a JSON document (:func:`figures_document`).

The figures come from each domain's :meth:`~interlink.operations.Operations.traffic` (see
:mod:`interlink.operations.flows` for what each means and when it is unknown). The text drawn on an arrow is
made here, once, and sent in the JSON, so the page's script only places it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from interlink.console.backend import ConsoleDomain
from interlink.console.html import Markup, attr, esc, pick, shown
from interlink.exceptions import InterlinkError
from interlink.operations.flows import ArrowFigures, DomainTraffic, ReplicaLag, arrow_figures, replica_lag
from interlink.specs.diagram import svg
from interlink.specs.landscape import Landscape

__all__ = [
    "COLUMNS",
    "arrow_label",
    "cells",
    "figures",
    "figures_document",
    "landscape_page",
    "replica_lags",
    "traffic",
]

log = logging.getLogger("interlink.console")

#: The table's columns after from / to / pattern / carries: (key in :func:`cells`, heading).
COLUMNS = (
    ("rate", "messages / min"),
    ("outbox", "in the producer's outbox"),
    ("oldest", "oldest waiting"),
    ("lag", "consumer lag (target)"),
    ("dead", "dead letters"),
)


async def traffic(domains: Mapping[str, ConsoleDomain]) -> dict[str, DomainTraffic]:
    """The traffic of each domain that can be read now (the others are left out: their figures are unknown)."""
    found: dict[str, DomainTraffic] = {}
    for domain in domains.values():
        try:
            found[domain.name] = await domain.operations.traffic()
        except InterlinkError as exc:
            log.warning("console: the traffic of %s cannot be read: %s", domain.name, exc)
    return found


async def figures(domains: Mapping[str, ConsoleDomain], landscape: Landscape) -> list[ArrowFigures]:
    """Every arrow's figures, from the traffic of the domains that can be read now (the others: unknown)."""
    read = await traffic(domains)
    return arrow_figures(landscape, read, next((t.window for t in read.values()), 60.0))


def replica_lags(status: Any, own: DomainTraffic | None, read: Mapping[str, DomainTraffic]) -> list[ReplicaLag]:
    """The lag of each replica in a domain's status (none when its traffic could not be read)."""
    if own is None:
        return []
    replicas = pick(status, "replicas", default=[])
    return [
        replica_lag(shown(pick(r, "name")), shown(pick(r, "feed")), own, read)
        for r in replicas
        if pick(r, "feed") is not None
    ]


def _per_minute(arrow: ArrowFigures) -> str:
    if arrow.rate is None:
        return ""
    per_minute = arrow.rate * 60
    return f"{per_minute:.0f}" if per_minute >= 10 or per_minute == int(per_minute) else f"{per_minute:.1f}"


def cells(arrow: ArrowFigures) -> dict[str, str]:
    """The arrow's figures as the table shows them (empty where unknown)."""
    age = arrow.outbox_oldest_age
    return {
        "rate": _per_minute(arrow),
        "outbox": shown(arrow.outbox_pending),
        "oldest": "" if age is None else f"{age:.0f}s",
        "lag": shown(arrow.consumer_lag),
        "dead": shown(arrow.dead_letters),
    }


def arrow_label(arrow: ArrowFigures) -> str:
    """The line drawn at the foot of the arrow's label: ``12/min · lag 3 · 1 dead``, what is known of it."""
    parts = []
    if arrow.rate is not None:
        parts.append(f"{_per_minute(arrow)}/min")
    waiting = [n for n in (arrow.outbox_pending, arrow.consumer_lag) if n is not None]
    if waiting:
        lag = f"lag {sum(waiting)}"
        if arrow.outbox_oldest_age:
            lag += f" ({arrow.outbox_oldest_age:.0f}s)"
        parts.append(lag)
    if arrow.dead_letters is not None:
        parts.append(f"{arrow.dead_letters} dead")
    return " · ".join(parts)


_PLACE = re.compile(r'<text class="figures"([^>]*)></text>')


def _filled(drawn: str, arrows: Iterator[ArrowFigures]) -> str:
    """The diagram with each label's figures line filled in (labels are drawn in the order of the arrows)."""

    def fill(found: re.Match[str]) -> str:
        arrow = next(arrows, None)
        if arrow is None:
            return found.group(0)
        kind = "figures alert" if arrow.dead_letters else "figures"
        return f'<text class="{kind}"{found.group(1)}>{esc(arrow_label(arrow))}</text>'

    return _PLACE.sub(fill, drawn)


def figures_document(arrows: Sequence[ArrowFigures], at: datetime, refresh: float) -> dict[str, Any]:
    """The JSON the page's script reads: each arrow's figures, its label line and its table cells."""
    return {
        "at": at.isoformat(timespec="seconds"),
        "refresh": refresh,
        "arrows": [
            a.model_dump(mode="json") | {"label": arrow_label(a), "alert": bool(a.dead_letters), "cells": cells(a)}
            for a in arrows
        ],
    }


def landscape_page(
    landscape: Landscape, arrows: Sequence[ArrowFigures], source: str, refresh: float, at: datetime
) -> Markup:
    """The diagram (each label with a line for its figures) and the table of the figures, both refreshed
    every ``refresh`` seconds by the script from ``source``."""
    drawn = _filled(svg(landscape, "Landscape", figures=True), iter(arrows))
    head = "".join(f"<th>{esc(h)}</th>" for h in ("from", "to", "pattern", "carries", *(t for _, t in COLUMNS)))
    rows = []
    for arrow in arrows:
        known = cells(arrow)
        figures_html = "".join(f'<td data-figure="{k}">{esc(known[k])}</td>' for k, _ in COLUMNS)
        rows.append(
            f'<tr data-arrow="{attr(arrow.id)}"><td>{esc(arrow.source)}</td><td>{esc(arrow.target)}</td>'
            f"<td>{esc(arrow.title)}</td><td>{esc(', '.join(arrow.carries))}</td>{figures_html}</tr>"
        )
    table = (
        f'<table data-testid="arrows"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else '<p class="empty" data-testid="arrows-empty">No integration.</p>'
    )
    note = (
        '<p class="note">On each arrow: messages per minute (over the last 60s where the producer runs in this '
        "process; elsewhere over the last full minute and the current one, from the counts the producer's "
        "processes write to its store every few seconds; blank when its store is not read here), lag (its "
        "messages in the producer's outbox, and the consumer's backlog at the broker, every arrow into it "
        "together; the oldest waiting in brackets) and "
        'its dead letters. Figures as of <time data-testid="figures-at">'
        f"{esc(at.isoformat(timespec='seconds'))}</time>, refreshed every {refresh:g}s.</p>"
    )
    return Markup(
        f'<div class="landscape" data-figures="{attr(source)}" data-refresh="{refresh:g}" '
        f'data-testid="landscape">{drawn}</div>{note}{table}'
    )
