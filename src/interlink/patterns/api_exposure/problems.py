"""RFC 9457 problem details, and the one table that maps Interlink's exceptions to HTTP status codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from interlink.core.pagination import InvalidCursor
from interlink.exceptions import (
    AccessDenied,
    AdapterError,
    BusinessRuleError,
    ConcurrencyError,
    ExternalServiceError,
    InterlinkError,
    InvalidInput,
    NotFoundError,
    PreconditionFailed,
)

__all__ = ["PROBLEM_JSON", "STATUS", "Problem", "RequestTimedOut", "install_problem_handlers", "problem"]

log = logging.getLogger("interlink.api")
PROBLEM_JSON = "application/problem+json"


class RequestTimedOut(InterlinkError):
    """The command or query did not finish within the request timeout."""


#: Exception class -> (status, title). The first class in this order that matches wins.
STATUS: list[tuple[type[Exception], int, str]] = [
    (InvalidCursor, 400, "Bad Request"),
    (NotFoundError, 404, "Not Found"),
    (ConcurrencyError, 409, "Conflict"),
    (PreconditionFailed, 412, "Precondition Failed"),
    (InvalidInput, 422, "Unprocessable Content"),
    (BusinessRuleError, 422, "Unprocessable Content"),
    (ExternalServiceError, 502, "Bad Gateway"),
    (RequestTimedOut, 504, "Gateway Timeout"),
    (AdapterError, 503, "Service Unavailable"),
]

#: What a client is told of a failure in the infrastructure: its message (store URLs, schemas, driver text,
#: other services' addresses) goes to the log only.
GENERIC_DETAIL = {
    502: "a service this request depends on did not answer as expected; retry later",
    503: "the service is unavailable for the moment; retry later",
}


class ProblemField(BaseModel):
    """One invalid field: where it is and what is wrong with it."""

    field: str = Field(description="Where: `body.<field>`, `path.<name>`, `query.<name>` or `header.<name>`.")
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str = Field("about:blank", description="A URI naming the kind of problem (`about:blank`: see status).")
    title: str = Field(description="The status's reason phrase.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong with this request.")
    instance: str | None = Field(None, description="The request's path.")
    errors: list[ProblemField] | None = Field(None, description="Each invalid field, for a 422.")


def problem(
    status: int, title: str, detail: str | None = None, *, instance: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(title=title, status=status, detail=detail, instance=instance).model_dump(exclude_none=True)
    headers = extra.pop("headers", None)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AccessDenied):
        return (403, "Forbidden") if exc.authenticated else (401, "Unauthorized")
    for cls, status, title in STATUS:
        if isinstance(exc, cls):
            return status, title
    return 500, "Internal Server Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json: validation (422, each field named), domain errors, the rest."""

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return problem(400, "Bad Request", "the body is not valid JSON", instance=request.url.path)
        if any(tuple(err["loc"][:2]) == ("header", "Idempotency-Key") for err in exc.errors()):
            detail = "Idempotency-Key must be 1 to 200 visible ASCII characters, not blank"
            return problem(400, "Bad Request", detail, instance=request.url.path)
        fields = [
            ProblemField(field=".".join(str(p) for p in err["loc"]), message=err["msg"]).model_dump()
            for err in exc.errors()
        ]
        return problem(
            422, "Unprocessable Content", "the request is not valid", instance=request.url.path, errors=fields
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = getattr(exc, "problem_detail", None)
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(_allowed(request))}
        return problem(exc.status_code, str(exc.detail), detail, instance=request.url.path, headers=headers)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        status, title = _status_of(exc)
        if status == 500:
            # An unexpected failure is logged in full here; the client learns nothing of the internals.
            log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
            return problem(500, title, "an unexpected error occurred", instance=request.url.path)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 503:
            headers = {"Retry-After": "1"}
        detail = GENERIC_DETAIL.get(status)
        if detail is not None:
            log.warning("%s %s answered %d: %s", request.method, request.url.path, status, exc)
        return problem(status, title, detail or str(exc), instance=request.url.path, headers=headers)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    # Interlink's errors are answered by the exception middleware; anything else reaches Starlette's
    # server-error middleware, which answers with this handler too and then lets the server log it.
    app.add_exception_handler(InterlinkError, on_error)
    app.add_exception_handler(Exception, on_error)


def _allowed(request: Request) -> list[str]:
    """Every method some route of this application serves at the request's path (RFC 9110 ``Allow``)."""
    methods: set[str] = set()
    for route in request.scope["app"].routes:
        match, _ = route.matches({**request.scope, "method": ""})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)
