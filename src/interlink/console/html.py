"""Small HTML building blocks: every value is escaped here, so pages never paste raw text into markup."""

from __future__ import annotations

import dataclasses
import enum
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "Markup",
    "action_form",
    "attr",
    "esc",
    "fields",
    "layout",
    "link",
    "mask",
    "pretty",
    "table",
    "url",
]

MASK = "•••"


class Markup(str):
    """Text that is already HTML (built by these helpers), so it is not escaped again."""


def esc(value: object) -> Markup:
    """``value`` as HTML text: markup passes through, everything else is shown as text."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(shown(value)))


def shown(value: object) -> str:
    """How a value reads on a page: times to the second, durations in seconds, None as empty."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.1f}s"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def join(parts: Iterable[str]) -> Markup:
    """Concatenate pieces of markup (each escaped unless it is Markup)."""
    return Markup("".join(esc(p) for p in parts))


def attr(value: object) -> str:
    """A value escaped for a double-quoted attribute."""
    return html.escape(shown(value), quote=True)


def url(base: str, *segments: object, **query: object) -> str:
    """A console path under ``base`` (where it is mounted): each segment percent-encoded, query values that
    are None or empty left out."""
    path = base + "".join("/" + quote(shown(s), safe="") for s in segments)
    q = {k: shown(v) for k, v in query.items() if v is not None and v != ""}
    return path + (f"?{urlencode(q)}" if q else "")


def link(href: str, text: object, **attrs: str) -> Markup:
    """An anchor."""
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{attr(v)}"' for k, v in attrs.items())
    return Markup(f'<a href="{attr(href)}"{extra}>{esc(text)}</a>')


def fields(record: object) -> dict[str, Any]:
    """A record's fields by name, whatever it is: a dataclass, a pydantic model, a mapping or an object."""
    if record is None:
        return {}
    if isinstance(record, Mapping):
        return dict(record)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    dump = getattr(record, "model_dump", None)
    if callable(dump):
        return {k: getattr(record, k, v) for k, v in dump().items()}
    return {k: v for k, v in vars(record).items() if not k.startswith("_")}


def pick(record: object, *names: str, default: Any = None) -> Any:
    """The first of ``names`` the record has (records of different versions name things differently)."""
    found = fields(record)
    for name in names:
        if found.get(name) is not None:
            return found[name]
    return default


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str, test_id: str = "") -> Markup:
    """A table, or a line saying there is nothing to show."""
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return Markup(f'<p class="empty" data-testid="{attr(test_id)}-empty">{esc(empty)}</p>')
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    tid = f' data-testid="{attr(test_id)}"' if test_id else ""
    return Markup(f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def pretty(value: object) -> str:
    """JSON text, indented, for a ``<pre>``; bytes are decoded as JSON when they are JSON."""
    if isinstance(value, bytes):
        try:
            value = json.loads(value)
        except (UnicodeDecodeError, ValueError):
            return repr(value)
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    return json.dumps(value, indent=2, sort_keys=True, default=shown, ensure_ascii=False)


def mask(value: Any) -> Any:
    """The payload's shape without its values: keys stay (they say what the message is), every leaf is
    replaced, so the page names no customer data to someone without the payload permission."""
    if isinstance(value, Mapping):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return None if value is None else MASK


def action_form(
    href: str,
    label: str,
    csrf: str,
    *,
    fields_html: str = "",
    reason: bool = True,
    hidden: Mapping[str, object] = {},
    test_id: str = "",
    danger: bool = False,
) -> Markup:
    """A POST form for one action, carrying the session's CSRF token and, usually, a required reason."""
    inputs = f'<input type="hidden" name="csrf" value="{attr(csrf)}">'
    inputs += "".join(f'<input type="hidden" name="{attr(k)}" value="{attr(v)}">' for k, v in hidden.items())
    if reason:
        inputs += (
            f'<input name="reason" required minlength="3" placeholder="reason (audited)" '
            f'data-testid="{attr(test_id)}-reason" aria-label="reason for {attr(label)}">'
        )
    kind = "danger" if danger else "act"
    return Markup(
        f'<form method="post" action="{attr(href)}" class="action" data-testid="{attr(test_id)}">{inputs}{fields_html}'
        f'<button type="submit" class="{kind}" data-testid="{attr(test_id)}-submit">{esc(label)}</button></form>'
    )


def layout(
    title: str,
    body: str,
    *,
    nav: Sequence[tuple[str, str]],
    who: str,
    csrf: str | None,
    notice: str = "",
    base: str = "",
) -> str:
    """The page around ``body``: the navigation, who is signed in, a notice after an action."""
    items = "".join(f"<li>{link(href, text)}</li>" for href, text in nav)
    out = ""
    if csrf is not None:
        out = (
            f'<form method="post" action="{attr(base)}/logout" class="logout"><input type="hidden" name="csrf" '
            f'value="{attr(csrf)}"><button type="submit">Sign out</button></form>'
        )
    flash = f'<p class="notice" role="status" data-testid="notice">{esc(notice)}</p>' if notice else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Interlink console</title>"
        f'<link rel="stylesheet" href="{attr(base)}/static/console.css">'
        f'<script src="{attr(base)}/static/console.js" defer></script></head><body>'
        f"<header><strong>{link(base + '/', 'Interlink console')}</strong><nav><ul>{items}</ul></nav>"
        f'<span class="who" data-testid="who">{esc(who)}</span>{out}</header>'
        f"<main><h1>{esc(title)}</h1>{flash}{body}</main></body></html>"
    )
