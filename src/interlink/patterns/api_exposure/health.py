"""``/healthz`` (the process answers) and ``/readyz`` (store and broker answer, the outbox keeps up)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from interlink.exceptions import InterlinkError
from interlink.patterns.api_exposure.host import DomainHost
from interlink.patterns.api_exposure.routes import HostRef
from interlink.patterns.api_exposure.settings import ApiSettings

__all__ = ["add_health_routes", "readiness"]

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


def add_health_routes(app: FastAPI, host: HostRef, settings: ApiSettings) -> None:
    """Liveness and readiness probes; neither needs authentication (they reveal no data)."""

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Store and broker answer and the outbox is not lagging",
        responses={503: {"description": "not ready"}},
    )
    async def readyz() -> JSONResponse:
        ready, checks = await readiness(host(), settings)
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)
