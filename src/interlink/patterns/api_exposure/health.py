"""``/healthz`` (the process answers) and ``/readyz`` (store and broker answer, the outbox keeps up)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from interlink.exceptions import InterlinkError
from interlink.patterns.api_exposure.host import DomainHost
from interlink.patterns.api_exposure.routes import HostRef
from interlink.patterns.api_exposure.settings import ApiSettings

__all__ = ["HEALTH_PATHS", "add_health_routes", "readiness"]

HEALTH_PATHS = ("/healthz", "/readyz")

log = logging.getLogger("interlink.api")


async def readiness(target: DomainHost, settings: ApiSettings) -> tuple[bool, dict[str, str]]:
    """Whether the domain is ready, and what each check found (no URL or driver text: probes are open)."""
    checks: dict[str, str] = {}
    for name, probe in (("store", target.store.ping), ("broker", target.broker.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except (InterlinkError, OSError) as exc:
            log.warning("readiness of %s: %s failing: %s", target.domain.name, name, exc)
            checks[name] = f"failing: {type(exc).__name__}"
    try:
        status = await target.store.outbox_status()
        lag = (datetime.now(UTC) - status.oldest_pending).total_seconds() if status.oldest_pending else 0.0
        ok = lag <= settings.readiness_outbox_lag
        checks["outbox"] = f"{status.pending} pending, oldest {lag:.1f}s" + ("" if ok else " (lagging)")
    except InterlinkError as exc:
        log.warning("readiness of %s: outbox failing: %s", target.domain.name, exc)
        checks["outbox"] = f"failing: {type(exc).__name__}"
    ready = all(v == "ok" or (k == "outbox" and "lagging" not in v and "failing" not in v) for k, v in checks.items())
    return ready, checks


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"] = Field(description="Always `ok`: an answer at all is the news.")


class Readiness(BaseModel):
    """Whether the domain can take work, and what each check found."""

    status: Literal["ready", "not ready"] = Field(description="`ready` when every check passed.")
    checks: dict[str, str] = Field(
        description="store, broker and outbox: `ok`, a count of pending outbox rows, or `failing: <error class>`."
    )


def add_health_routes(app: FastAPI, host: HostRef, settings: ApiSettings, prefix: str = "") -> None:
    """Liveness and readiness probes; neither needs authentication (they reveal no data). Their operation
    ids start with ``prefix`` (the domain's name), so they stay unique in an API portal holding many domains."""
    ids = f"{prefix}_" if prefix else ""
    # A probe answers whatever the method names; only its content is fixed, so 404 and 405 are not its.
    method_not_allowed: dict[int | str, dict[str, Any]] = {405: {"description": "method not allowed on this path"}}

    @app.get(
        "/healthz",
        tags=["health"],
        summary="The process is alive",
        description="Liveness: answers 200 as long as the process serves requests; needs no credentials.",
        operation_id=f"{ids}healthz",
        response_model=Liveness,
        responses=method_not_allowed,
    )
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Store and broker answer and the outbox is not lagging",
        description=(
            "Readiness: 200 when the store and the broker answer and the oldest unsent outbox row is younger "
            f"than {settings.readiness_outbox_lag:g} s, else 503 with the same body; needs no credentials."
        ),
        operation_id=f"{ids}readyz",
        response_model=Readiness,
        responses={503: {"description": "not ready", "model": Readiness}, **method_not_allowed},
    )
    async def readyz() -> JSONResponse:
        ready, checks = await readiness(host(), settings)
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)
