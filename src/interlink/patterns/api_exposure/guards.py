"""Checks every request passes before routing: a path no resource can have, a body that is not JSON.

Plain ASGI middleware, so the answer is the same problem+json for every route, for routes that do not exist
and for every domain mounted in one process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["NUL_MESSAGE", "BadRequest", "RequestGuard", "nul_errors", "send_problem"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
NUL_MESSAGE = "must not contain the NUL character (U+0000)"


class BadRequest(HTTPException):
    """A 400 problem with a detail saying what is wrong with the request."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad Request")
        self.problem_detail = detail


async def send_problem(send: Send, status: int, title: str, detail: str, instance: str | None = None) -> None:
    """Answer with a problem+json body straight from ASGI middleware."""
    problem: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance is not None:
        problem["instance"] = instance
    body = json.dumps(problem).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """404 for a path with control characters (no id can hold one); 415 for a body that is not JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = unquote(raw.decode("latin-1")) if isinstance(raw, bytes) else scope["path"]
        if _CONTROL.search(path) or _CONTROL.search(scope["path"]):
            # Printed with its control characters escaped: the instance never carries them either.
            shown = path.encode("unicode_escape").decode("ascii")
            await send_problem(send, 404, "Not Found", "no resource has a path with control characters", shown)
            return
        if scope["method"] in _WITH_BODY:
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
            has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in headers
            if (content_type and not _JSON.match(content_type)) or (has_body and not content_type):
                detail = f"the body must be application/json, not {content_type or 'untyped'}"
                await send_problem(send, 415, "Unsupported Media Type", detail, scope["path"])
                return
        await self.app(scope, receive, send)


def nul_errors(value: Any, where: Sequence[str | int]) -> list[dict[str, Any]]:
    """Validation errors (FastAPI's shape) for every string in ``value`` that holds a NUL character.

    PostgreSQL text and jsonb cannot hold U+0000, so such a string is refused at the edge, naming its field,
    rather than stored where it would break every later read.
    """
    return [{"loc": (*where, *loc), "msg": NUL_MESSAGE, "type": "string_nul"} for loc in _nul_locations(value, ())]


def _nul_locations(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield loc
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield (*loc, key.replace("\x00", "\\u0000"))
            yield from _nul_locations(item, (*loc, key))
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield from _nul_locations(item, (*loc, index))
