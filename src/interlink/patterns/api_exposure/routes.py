"""HTTP routes generated from a domain's commands and queries: access only, no business logic here.

A command route reads the body (and path parameters) into the command's input model, runs the command
through the domain host, and answers with its result. A query route passes path and query parameters to
the query. Around that, and only that: authentication and scopes, Idempotency-Key, If-Match / ETag,
correlation id and trace context, a request timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from interlink.core.aggregate import Aggregate
from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.exceptions import PreconditionFailed
from interlink.patterns.api_exposure.guards import nul_errors
from interlink.patterns.api_exposure.host import DomainHost
from interlink.patterns.api_exposure.idempotency import claimed_key, idempotency_key, replay
from interlink.patterns.api_exposure.operation_docs import (
    ETAG,
    SAFE_ID,
    description,
    problem_responses,
    security,
    success,
)
from interlink.patterns.api_exposure.problems import RequestTimedOut
from interlink.patterns.api_exposure.security import require_scopes
from interlink.patterns.api_exposure.settings import ApiSettings
from interlink.ports.envelope import TRACEPARENT
from interlink.ports.ids import random_hex
from interlink.ports.store import IdempotencyRecord

__all__ = ["add_command_route", "add_query_route", "route_of"]

HostRef = Callable[[], DomainHost]
_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
_WEAK_ETAG = re.compile(r'^W/"\d+"$')
_IF_MATCH = r'^(\*|"[0-9]+")$'
_KEY = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"


def route_of(spec: CommandSpec | QuerySpec) -> tuple[str, str]:
    """(METHOD, path) of a declaration: its ``http=`` or a default under /commands or /queries."""
    if spec.http:
        method, path = spec.http.split(" ", 1)
        return method, path
    slug = spec.name.replace("_", "-")
    return ("POST", f"/commands/{slug}") if isinstance(spec, CommandSpec) else ("GET", f"/queries/{slug}")


def _trace(request: Request) -> tuple[str, str | None]:
    given = request.headers.get("x-correlation-id")
    # 32 hex characters like uuid4().hex, from the id pool: no os.urandom call and no UUID object per request.
    correlation = given if given and SAFE_ID.match(given) else random_hex()
    traceparent = request.headers.get("traceparent")
    if traceparent and not TRACEPARENT.match(traceparent):
        traceparent = None  # a malformed trace header starts a new trace rather than failing the call
    return correlation, traceparent


def _encode(adapter: TypeAdapter[Any] | None, result: Any) -> bytes:
    if adapter is not None:
        return adapter.dump_json(result)
    return TypeAdapter(Any).dump_json(result)


def _headers(correlation: str, result: Any) -> dict[str, str]:
    headers = {"X-Correlation-Id": correlation}
    if isinstance(result, Aggregate):
        headers["ETag"] = f'"{result.version}"'
    return headers


async def _timed(settings: ApiSettings, work: Any) -> Any:
    try:
        async with asyncio.timeout(settings.request_timeout):
            return await work
    except TimeoutError as exc:
        raise RequestTimedOut(f"the request took longer than {settings.request_timeout:g}s") from exc
    except ValidationError as exc:
        # Input the route's own validation let through (a path value the input model refuses): still
        # the caller's mistake, so a 422 naming the field rather than a failed command.
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


async def _authorize(request: Request, settings: ApiSettings, scopes: tuple[str, ...], what: str) -> None:
    if settings.auth is None:
        return
    principal = await settings.auth.authenticate(request)
    require_scopes(principal, scopes, what)


def _body_model(spec: CommandSpec, path_params: list[str]) -> type[BaseModel] | None:
    """The input model without the fields that the path supplies."""
    if spec.input_type is None:
        return None
    fields = {
        name: (info.annotation, info) for name, info in spec.input_type.model_fields.items() if name not in path_params
    }
    if len(fields) == len(spec.input_type.model_fields):
        return spec.input_type
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{spec.input_type.__name__}Body", __config__=spec.input_type.model_config, **fields
    )
    return model


def add_command_route(
    app: FastAPI,
    host: HostRef,
    spec: CommandSpec,
    settings: ApiSettings,
    *,
    schemes: Sequence[str] = (),
    location: str | None = None,
) -> None:
    """Expose a command: body -> input model, Idempotency-Key, If-Match, result (with ETag) -> JSON.

    With ``location`` (the path of the query reading the resource, ``/customers/{}``), a command whose
    result is an aggregate it has just created (version 1) answers 201 with that path as ``Location``.
    """
    method, path = route_of(spec)
    path_params = _PLACEHOLDER.findall(path)
    body_model = _body_model(spec, path_params)
    adapter = TypeAdapter(spec.result_type) if spec.result_type not in (None, inspect.Parameter.empty) else None
    what = f"command {spec.name!r}"
    returns_aggregate = isinstance(spec.result_type, type) and issubclass(spec.result_type, Aggregate)

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        await _authorize(request, settings, spec.scopes, what)
        correlation, traceparent = _trace(request)
        # Under a mount (several domains in one process) the resource is read below its prefix.
        where = f"{request.scope.get('root_path', '')}{location}" if location is not None else None
        body = kwargs.pop("body", None)
        kwargs.pop("idempotency_key", None)
        key = idempotency_key(request)
        # Sent to a route that names no resource, If-Match cannot match anything: 412 below.
        if_match = kwargs.pop("if_match", None) or request.headers.get("if-match")
        data: Any
        if body is not None and not kwargs and type(body) is spec.input_type:
            # The body is the command's input, validated by the route: passed on as is, not dumped to be
            # validated again by the command.
            data = body
            await _check_body(request, body)
        else:
            data = (body.model_dump() if body is not None else {}) | kwargs
            await _check_input(request, data, kwargs)
        expect = _precondition(if_match, kwargs.get("id"))
        target = host()
        if key is None:
            result = await _timed(
                settings,
                target.execute(spec.func, data, correlation_id=correlation, traceparent=traceparent, expect=expect),
            )
            status, headers = _created(where, correlation, result)
            return Response(_encode(adapter, result), status, headers, "application/json")
        raw = await request.body()
        fingerprint = hashlib.sha256(f"{method} {request.url.path}\n".encode() + raw).hexdigest()
        held = await target.store.claim_idempotency(key, fingerprint, settings.idempotency_lease)
        if held is not None:
            return replay(held, fingerprint, correlation, etag=returns_aggregate, location=where)
        encoded: dict[str, bytes] = {}

        def finish(result: Any) -> IdempotencyRecord:
            encoded["body"] = _encode(adapter, result)
            status = _created(where, correlation, result)[0]
            return IdempotencyRecord(key, fingerprint, "done", time.time(), status, encoded["body"].decode())

        async with claimed_key(target.store, key, fingerprint, settings.idempotency_lease):
            result = await _timed(
                settings,
                target.execute(
                    spec.func, data, correlation_id=correlation, traceparent=traceparent, expect=expect, finish=finish
                ),
            )
        status, headers = _created(where, correlation, result)
        return Response(encoded["body"], status, headers, "application/json")

    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    for name in path_params:
        field = spec.input_type.model_fields.get(name) if spec.input_type else None
        # The field's constraints go with it, so a bad id is a 422 naming path.<name>, not a failed command.
        annotation = Annotated[field.annotation, _path_of(field)] if field is not None else Annotated[str, Path()]
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    if body_model is not None:
        parameters.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_model))
    # Optional headers are plain strings in the document (a header is never null); If-Match only where the
    # path names the resource. Its documented pattern is the strong ETag, the only kind that can match.
    key_doc = (
        "Retrying with the same key and body returns the stored response (one header, 1 to 200 visible characters)"
    )
    headers: list[tuple[str, Any]] = [
        ("idempotency_key", Header(alias="Idempotency-Key", description=key_doc, min_length=1, max_length=200,
                                   pattern=_KEY)),
    ]  # fmt: skip
    if "id" in path_params:
        match_doc = 'ETag the resource must have (like "3"), or * for "exists"; a weak ETag never matches (412)'
        headers.append(
            ("if_match", Header(alias="If-Match", description=match_doc, min_length=1, max_length=200,
                                json_schema_extra={"pattern": _IF_MATCH}))
        )  # fmt: skip
    for name, header in headers:
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, header], default=None)
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    statuses = (400, 404, 405, 409, 412, 413, 415, 422, 502, 503, 504) + ((401, 403) if schemes else ())
    responses = problem_responses(*statuses) | success(200, "The command's result.", etag=returns_aggregate)
    if location is not None:
        created = "The command created the resource: its result, and where to read it."
        responses |= success(201, created, etag=returns_aggregate, location=True)
    app.add_api_route(
        path,
        endpoint,
        methods=[method],
        name=spec.name,
        operation_id=spec.name,
        summary=(spec.func.__doc__ or spec.name).strip().splitlines()[0],
        description=description(spec, "command", schemes),
        response_model=spec.result_type if adapter is not None else None,
        responses=responses,
        tags=["commands"],
        openapi_extra=security(spec, schemes),
    )


def _created(location: str | None, correlation: str, result: Any) -> tuple[int, dict[str, str]]:
    """201 with a Location for a resource the command has just created (version 1), else 200."""
    headers = _headers(correlation, result)
    if location is not None and isinstance(result, Aggregate) and result.version == 1:
        headers["Location"] = location.format(quote(result.id, safe=""))
        return 201, headers
    return 200, headers


async def _check_body(request: Request, body: BaseModel) -> None:
    """What :func:`_check_input` checks of a body that is all the input: 422 for a string holding a NUL."""
    raw = await request.body()  # read (and kept) by the route already
    # A JSON string holds a NUL only as the escape \u0000 (or, malformed, as the byte itself); a body with
    # neither, the common case, needs no walk through its values.
    if b"\\u0000" in raw or b"\x00" in raw:
        await _check_input(request, body.model_dump(), {})


async def _check_input(request: Request, data: dict[str, Any], path: dict[str, Any]) -> None:
    """422 for a string the store cannot hold (NUL), or a body naming another resource than the path."""
    errors = nul_errors(data, ("body",))
    if path:
        raw = await request.body()
        try:
            sent = json.loads(raw) if raw else None
        except ValueError:
            sent = None  # FastAPI has parsed it already; what it accepted is JSON
        for name, value in path.items():
            if isinstance(sent, dict) and name in sent and str(sent[name]) != str(value):
                message = f"{name} {sent[name]!r} in the body differs from {value!r} in the path"
                errors += [
                    {"loc": ("body", name), "msg": message, "type": "path_mismatch"},
                    {"loc": ("path", name), "msg": message, "type": "path_mismatch"},
                ]
    if errors:
        raise RequestValidationError(errors)


def _path_of(field: FieldInfo) -> Any:
    """A FastAPI path parameter carrying the model field's constraints (length, pattern, bounds)."""
    path = Path(description=field.description)
    path.metadata = list(field.metadata)
    return path


def _precondition(if_match: str | None, resource_id: Any) -> tuple[str, int | None] | None:
    if if_match is None:
        return None
    if resource_id is not None and if_match.strip() == "*":
        return str(resource_id), None  # RFC 9110: "*" matches any current representation
    if _WEAK_ETAG.match(if_match.strip()):
        # RFC 9110 13.1.1: If-Match uses the strong comparison, which a weak entity tag never passes.
        raise PreconditionFailed(f'If-Match {if_match!r} is a weak ETag: a write needs a strong one (like "3")')
    found = ETAG.match(if_match.strip())
    if found is None:
        message = f'{if_match[:40]!r} is not an ETag this API gave out (like "3") nor *'
        raise RequestValidationError([{"loc": ("header", "If-Match"), "msg": message, "type": "etag"}])
    if resource_id is None:
        raise PreconditionFailed("If-Match needs a route with an {id} path parameter to name the resource")
    return str(resource_id), int(found.group(1))


def add_query_route(
    app: FastAPI, host: HostRef, spec: QuerySpec, settings: ApiSettings, *, schemes: Sequence[str] = ()
) -> None:
    """Expose a query: path and query parameters in, result (with ETag for an aggregate) out."""
    method, path = route_of(spec)
    adapter = TypeAdapter(spec.result_type) if spec.result_type not in (None, inspect.Parameter.empty) else None
    what = f"query {spec.name!r}"
    path_params = set(_PLACEHOLDER.findall(path))

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        await _authorize(request, settings, spec.scopes, what)
        correlation, traceparent = _trace(request)
        errors = nul_errors({k: v for k, v in kwargs.items() if k not in path_params}, ("query",))
        if errors:
            raise RequestValidationError(errors)
        result = await _timed(
            settings, host().query(spec.func, correlation_id=correlation, traceparent=traceparent, **kwargs)
        )
        return Response(_encode(adapter, result), 200, _headers(correlation, result), "application/json")

    declared = inspect.signature(spec.func).parameters
    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    for name, annotation in spec.parameters.items():
        default = declared[name].default
        if name in path_params:
            annotation = Annotated[annotation, Path()]
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    statuses = (400, 404, 405, 422, 502, 503, 504) + ((401, 403) if schemes else ())
    etag = isinstance(spec.result_type, type) and issubclass(spec.result_type, Aggregate)
    app.add_api_route(
        path,
        endpoint,
        methods=[method],
        name=spec.name,
        operation_id=spec.name,
        summary=(spec.func.__doc__ or spec.name).strip().splitlines()[0],
        description=description(spec, "query", schemes),
        response_model=spec.result_type if adapter is not None else None,
        responses=problem_responses(*statuses) | success(200, "The query's result.", etag=etag),
        tags=["queries"],
        openapi_extra=security(spec, schemes),
    )
