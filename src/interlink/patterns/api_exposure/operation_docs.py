"""How a command or query route is described in the OpenAPI document: its success and problem responses
with their headers, its description and its security requirement (the routes themselves are in
:mod:`.routes`)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any

from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.patterns.api_exposure.problems import PROBLEM_JSON, Problem

__all__ = ["ETAG", "SAFE_ID", "description", "problem_responses", "security", "success"]

#: An id a caller may give (X-Correlation-Id, Idempotency-Key parts...).
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
#: A strong ETag: the resource's version in quotes.
ETAG = re.compile(r'^"(\d+)"$')


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "body not JSON, bad Idempotency-Key or unknown cursor", 415: "body not application/json",
        401: "not authenticated", 403: "missing scope", 404: "not found", 405: "method not allowed on this path",
        409: "conflict", 412: "If-Match does not match", 413: "body too large", 422: "invalid request",
        502: "another domain's API failed", 503: "store or broker unavailable", 504: "request timed out",
    }  # fmt: skip
    responses: dict[int | str, dict[str, Any]] = {
        s: {
            "description": described[s],
            "model": Problem,
            # The schema itself lives in components (registered through "model"), so its inner $refs resolve.
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
    if 405 in responses:
        allow = {"description": "The methods this path takes (RFC 9110).", "schema": {"type": "string"}}
        responses[405]["headers"] = {"Allow": allow}
    return responses


CORRELATION = {
    "description": "The correlation id of the request: the caller's X-Correlation-Id, or a new one.",
    "schema": {"type": "string", "pattern": SAFE_ID.pattern},
}
ETAG_HEADER = {
    "description": 'The version of the resource as a strong ETag (like "3"): send it as If-Match to change it.',
    "schema": {"type": "string", "pattern": ETAG.pattern},
}


def success(status: int, description: str, *, etag: bool, location: bool = False) -> dict[int | str, Any]:
    """The documented success response: its description and the headers the route sends with it."""
    headers: dict[str, Any] = {"X-Correlation-Id": CORRELATION}
    if etag:
        headers["ETag"] = ETAG_HEADER
    if location:
        headers["Location"] = {
            "description": "The path of the resource the command created.",
            "schema": {"type": "string", "format": "uri-reference"},
        }
    return {status: {"description": description, "headers": headers}}


def description(spec: CommandSpec | QuerySpec, what: str, schemes: Sequence[str]) -> str:
    """The operation's description: the function's docstring, and the scopes it needs."""
    text = inspect.cleandoc(spec.func.__doc__ or "") or f"Runs the {what} {spec.name}."
    if schemes:
        needs = f"Needs the scope(s) {', '.join(f'`{s}`' for s in spec.scopes)}." if spec.scopes else "Needs no scope."
        text += f"\n\n{needs}"
    return text


def security(spec: CommandSpec | QuerySpec, schemes: Sequence[str]) -> dict[str, Any]:
    """The operation's security requirement: any one scheme, with the scopes it needs (OpenAPI 3.1 lets a
    scheme other than OAuth2 name the roles it needs the same way)."""
    if not schemes:
        return {}
    return {"security": [{name: list(spec.scopes)} for name in schemes]}
