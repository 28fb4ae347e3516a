"""The console's pages as HTML fragments, from the records the operations facade returns.

Records are read by field name (:func:`~interlink.console.html.pick`), so a page shows what a record has
rather than failing on a field a store of another version does not keep.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from interlink.console.html import (
    MASK,
    Markup,
    action_form,
    attr,
    esc,
    fields,
    link,
    mask,
    pick,
    pretty,
    shown,
    table,
    url,
)

__all__ = [
    "audit_page",
    "group_page",
    "groups_page",
    "letter_page",
    "saga_page",
    "sagas_page",
    "status_block",
]

_LISTS = (list, tuple)
# Shown in their own sections (or, for the raw body and the payload, only to who may see payloads).
_LETTER_HIDDEN = frozenset({"body", "traceback", "payload", "envelope", "masked"})


def _value(value: Any) -> Markup:
    """A status figure: a list or mapping as a small table of its records, a scalar as text."""
    if isinstance(value, Mapping):
        if not value:
            return esc("none")
        rows = [(k, _value(v)) for k, v in value.items()]
        return table(("", ""), rows, empty="none")
    if isinstance(value, _LISTS):
        records = [fields(v) if not isinstance(v, str | int | float) else {"value": v} for v in value]
        if not records:
            return esc("none")
        headers = list(dict.fromkeys(k for r in records for k in r))
        return table(headers, ([_value(r.get(h)) for h in headers] for r in records), empty="none")
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "model_dump"):
        return _value(fields(value))
    return esc(value)


def status_block(
    name: str, status: Any, circuits: Mapping[str, str], base: str, replica_lags: Sequence[Any] = ()
) -> Markup:
    """One domain's figures: outbox, lag, deferred, replicas and their lag, files, dead letters; its circuits."""
    rows = [(k.replace("_", " "), _value(v)) for k, v in fields(status).items() if k not in ("domain", "name")]
    if replica_lags:
        rows.append(("replica lag", _value(list(replica_lags))))
    if circuits:
        rows.append(("external service circuits", _value(dict(circuits))))
    links = Markup(
        " · ".join(
            link(url(base, name, page), text)
            for page, text in (("dead-letters", "dead letters"), ("sagas", "sagas"), ("audit", "audit log"))
        )
    )
    return Markup(
        f'<section class="domain" data-testid="status-{attr(name)}"><h2>{esc(name)}</h2><p>{links}</p>'
        f"{table(('figure', 'value'), rows, empty='no figures')}</section>"
    )


def groups_page(name: str, groups: Sequence[Any], base: str, csrf: str | None, operate: bool) -> Markup:
    """Dead letters grouped by fingerprint, with counts, first and last seen, and a replay per group."""
    rows = []
    for group in groups:
        fp = shown(pick(group, "fingerprint", "id"))
        act = (
            action_form(
                url(base, name, "dead-letters", "replay-group"),
                "Replay group",
                csrf,
                hidden={"fingerprint": fp},
                test_id=f"replay-group-{fp}",
            )
            if operate and csrf is not None
            else Markup("")
        )
        rows.append(
            (
                link(url(base, name, "dead-letters", group=fp), fp[:12], data_testid=f"group-{fp}"),
                pick(group, "subscription"),
                pick(group, "message_type", "type"),
                pick(group, "error_name", "error_type"),
                pick(group, "error_class"),
                pick(group, "top_frame", "frame"),
                Markup(f'<span data-testid="count-{attr(fp)}">{esc(pick(group, "count", "size", default=0))}</span>'),
                pick(group, "first_seen", "first_failed_at"),
                pick(group, "last_seen", "last_failed_at"),
                act,
            )
        )
    headers = (
        "group",
        "subscription",
        "message type",
        "error",
        "class",
        "raised at",
        "count",
        "first seen",
        "last seen",
        "",
    )
    return table(headers, rows, empty="No dead letters: nothing is parked.", test_id="groups")


def group_page(
    name: str, fingerprint: str, letters: Sequence[Any], base: str, csrf: str | None, operate: bool
) -> Markup:
    """The letters of one group, and discarding all of them with a reason."""
    rows = [
        (
            link(url(base, name, "dead-letters", pick(d, "id")), pick(d, "id"), data_testid=f"letter-{pick(d, 'id')}"),
            pick(d, "message_type"),
            pick(d, "message_id"),
            pick(d, "attempts"),
            pick(d, "failed_at"),
            shown(pick(d, "error", default=""))[:160],
        )
        for d in letters
    ]
    out: str = table(
        ("id", "message type", "message id", "attempts", "failed at", "error"),
        rows,
        empty="This group is empty.",
        test_id="letters",
    )
    ids = ",".join(shown(pick(d, "id")) for d in letters)
    if operate and csrf is not None and letters:
        out = Markup(
            out
            + action_form(
                url(base, name, "dead-letters", "replay-group"),
                "Replay all",
                csrf,
                hidden={"fingerprint": fingerprint},
                test_id="replay-all",
            )
            + action_form(
                url(base, name, "dead-letters", "discard"),
                "Discard all",
                csrf,
                hidden={"ids": ids},
                test_id="discard-all",
                danger=True,
            )
        )
    return Markup(out)


def _envelope(letter: Any) -> tuple[dict[str, Any], Any]:
    """The letter's CloudEvents attributes, and its payload (``data``)."""
    envelope = pick(letter, "envelope")
    if isinstance(envelope, Mapping):
        attributes = {k: v for k, v in envelope.items() if k != "data"}
        return attributes, pick(letter, "payload", default=envelope.get("data", pick(letter, "body")))
    body = pick(letter, "body", default=b"")
    try:
        decoded = json.loads(body)
    except (TypeError, UnicodeDecodeError, ValueError):
        return {}, body
    if not isinstance(decoded, dict):
        return {}, decoded
    return {k: v for k, v in decoded.items() if k != "data"}, decoded.get("data")


def letter_page(
    name: str, letter: Any, base: str, csrf: str | None, operate: bool, payloads: bool, reveal: bool
) -> Markup:
    """One letter: envelope, error, attempts, payload (masked unless the visitor may and asked to see it)."""
    letter_id = pick(letter, "id")
    envelope, payload = _envelope(letter)
    facts = [(k.replace("_", " "), v) for k, v in fields(letter).items() if k not in _LETTER_HIDDEN]
    parts = [f"<h2>Letter</h2>{table(('field', 'value'), facts, empty='')}"]
    parts.append(f'<h2>Envelope</h2><pre data-testid="envelope">{esc(pretty(envelope))}</pre>')
    trace = pick(letter, "traceback")
    if trace:
        parts.append(f"<details><summary>Traceback</summary><pre>{esc(trace)}</pre></details>")
    if payloads and reveal:
        toggle = link(url(base, name, "dead-letters", letter_id), "Mask payload")
        parts.append(f'<h2>Payload {toggle}</h2><pre data-testid="payload">{esc(pretty(payload))}</pre>')
    else:
        toggle = (
            link(url(base, name, "dead-letters", letter_id, reveal=1), "Show payload", data_testid="show-payload")
            if payloads
            else Markup("")
        )
        note = "" if payloads else '<p class="note">Payloads are masked: your role may not see them.</p>'
        parts.append(
            f'<h2>Payload (masked) {toggle}</h2>{note}<pre data-testid="payload">{esc(pretty(mask(payload)))}</pre>'
        )
    if operate and csrf is not None:
        parts.append('<h2>Actions</h2><div class="actions">')
        parts.append(
            action_form(
                url(base, name, "dead-letters", "replay"), "Replay", csrf, hidden={"ids": letter_id}, test_id="replay"
            )
        )
        parts.append(
            action_form(
                url(base, name, "dead-letters", "discard"),
                "Discard",
                csrf,
                hidden={"ids": letter_id},
                test_id="discard",
                danger=True,
            )
        )
        if payloads and not reveal:
            show = link(
                url(base, name, "dead-letters", letter_id, reveal=1),
                "Show the payload to edit it",
                data_testid="reveal",
            )
            parts.append(f'<p class="note">{show}</p>')
        if payloads and reveal:
            editor = (
                f'<textarea name="payload" rows="10" data-testid="edit-payload" spellcheck="false" '
                f'aria-label="edited payload">{esc(pretty(payload))}</textarea>'
            )
            parts.append(
                action_form(
                    url(base, name, "dead-letters", letter_id, "edit"),
                    "Edit and replay",
                    csrf,
                    fields_html=editor,
                    test_id="edit",
                )
            )
        parts.append("</div>")
    return Markup("".join(parts))


def sagas_page(name: str, sagas: Sequence[Any], base: str, query: Mapping[str, str]) -> Markup:
    """Sagas with a filter by state, definition and age."""
    form = (
        f'<form method="get" class="filter" data-testid="saga-filter">'
        f'<label>state <input name="state" value="{attr(query.get("state", ""))}" placeholder="running"></label>'
        f'<label>definition <input name="definition" value="{attr(query.get("definition", ""))}"></label>'
        f'<label>older than (s) <input name="older_than" value="{attr(query.get("older_than", ""))}" size="6">'
        "</label><button type=submit>Filter</button></form>"
    )
    rows = [
        (
            link(url(base, name, "sagas", pick(s, "id")), pick(s, "id"), data_testid=f"saga-{pick(s, 'id')}"),
            pick(s, "name", "definition"),
            pick(s, "status", "state"),
            pick(s, "step"),
            pick(s, "awaiting"),
            pick(s, "started_at"),
            pick(s, "reason"),
        )
        for s in sagas
    ]
    headers = ("id", "definition", "state", "step", "awaiting", "started", "reason")
    return Markup(form + table(headers, rows, empty="No saga matches.", test_id="sagas"))


def saga_page(name: str, timeline: Any, base: str, csrf: str | None, operate: bool, payloads: bool) -> Markup:
    """One saga: where it is, its steps, its timeline (steps, replies, compensations, timeouts), the actions."""
    saga = pick(timeline, "saga", default=timeline)
    facts: list[tuple[str, object]] = [
        (k.replace("_", " "), _value(v)) for k, v in fields(saga).items() if k not in ("history", "data")
    ]
    data = pick(timeline, "data", default=pick(saga, "data"))
    facts.append(
        ("data", Markup(f'<pre data-testid="saga-data">{esc(pretty(data if payloads else mask(data)))}</pre>'))
    )
    outstanding = pick(timeline, "outstanding")
    if outstanding:
        facts.append(("waiting for", _value(outstanding)))
    out: str = table(("", ""), facts, empty="")
    steps = pick(timeline, "steps", default=[])
    if isinstance(steps, _LISTS) and steps:
        out += Markup("<h2>Steps</h2>") + _value(list(steps))
    entries = pick(timeline, "entries", "history", default=[])
    records = [fields(e) for e in entries]
    headers = list(dict.fromkeys(k for r in records for k in r))
    out += Markup("<h2>Timeline</h2>")
    out += table(headers, ([r.get(h) for h in headers] for r in records), empty="No entries yet.", test_id="timeline")
    saga_id = pick(saga, "id")
    if operate and csrf is not None:
        forms = "".join(
            action_form(url(base, name, "sagas", saga_id, verb), label, csrf, test_id=f"saga-{verb}", danger=danger)
            for verb, label, danger in (
                ("retry", "Retry step", False),
                ("compensate", "Compensate", True),
                ("abandon", "Abandon", True),
            )
        )
        out += Markup(f'<h2>Actions</h2><div class="actions">{forms}</div>')
    return Markup(out)


def audit_page(entries: Sequence[Any], payloads: bool) -> Markup:
    """The audit log, newest first; read-only (nothing on this page changes it)."""
    rows = [
        (
            pick(e, "at"),
            pick(e, "actor"),
            pick(e, "action"),
            pick(e, "target"),
            pick(e, "reason"),
            Markup(f"<pre>{esc(_short(pick(e, 'before'), payloads))}</pre>"),
            Markup(f"<pre>{esc(_short(pick(e, 'after'), payloads))}</pre>"),
        )
        for e in entries
    ]
    headers = ("when", "who", "what", "target", "reason", "before", "after")
    return table(headers, rows, empty="No action recorded yet.", test_id="audit")


_PAYLOAD_KEYS = frozenset({"payload", "data", "body"})


def _short(document: object, payloads: bool) -> str:
    """A before / after document, indented; payload values masked for a visitor who may not see them."""
    if document is None:
        return ""
    if not payloads:
        try:
            document = _without_payloads(json.loads(document) if isinstance(document, str | bytes) else document)
        except ValueError:
            document = MASK
    text = pretty(document)
    return text if len(text) < 2000 else text[:2000] + "\n" + MASK


def _without_payloads(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: mask(v) if k in _PAYLOAD_KEYS else _without_payloads(v) for k, v in value.items()}
    if isinstance(value, _LISTS):
        return [_without_payloads(v) for v in value]
    return value
