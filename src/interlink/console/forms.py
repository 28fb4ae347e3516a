"""The console's forms: reading a posted form, and the fields every action needs (a reason above all)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from interlink.console.access import OPERATE, PAYLOADS, READ
from interlink.console.html import attr

__all__ = ["count_of", "field", "form_of", "ids_of", "login_body", "reason_of"]

_MAX_FORM = 1_000_000


async def form_of(request: Request) -> dict[str, str]:
    """An URL-encoded form body (the only kind the console's forms send), at most 1 MB."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise HTTPException(413, "the form is too large")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "the console takes application/x-www-form-urlencoded forms")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"the form cannot be read: {exc}") from None


def field(request: Request, name: str) -> str:
    """A field of the posted form (read by the action's endpoint); 400 when it is missing or blank."""
    value: str = request.state.form.get(name, "")
    if not value.strip():
        raise HTTPException(400, f"the form needs {name!r}")
    return value


def reason_of(request: Request) -> str:
    """The action's reason; 400 naming it when it is missing, blank or under 3 characters."""
    reason = str(request.state.form.get("reason", "")).strip()
    if len(reason) < 3:
        raise HTTPException(400, "this action needs a reason (at least 3 characters): it is written to the audit log")
    return reason


def ids_of(request: Request) -> list[int]:
    """The dead-letter ids of the form, each once."""
    try:
        ids = [int(i) for i in field(request, "ids").replace(",", " ").split()]
    except ValueError:
        raise HTTPException(400, "ids: dead-letter ids, separated by commas") from None
    return list(dict.fromkeys(ids))


def count_of(ids: Sequence[int]) -> str:
    """``letter 7`` or ``3 letters``, for the notice after an action."""
    return f"letter {ids[0]}" if len(ids) == 1 else f"{len(ids)} letters"


def login_body(base: str) -> str:
    """The sign-in form."""
    return (
        f'<form method="post" action="{attr(base)}/login" class="login" data-testid="login">'
        '<label>Bearer token or API key <input type="password" name="credential" required autocomplete="off" '
        'data-testid="credential"></label><button type="submit" data-testid="sign-in">Sign in</button></form>'
        '<p class="note">The console takes the same credentials as the API; it needs the scope '
        f"<code>{READ}</code> to look, <code>{OPERATE}</code> to act and <code>{PAYLOADS}</code> to see payloads.</p>"
    )
