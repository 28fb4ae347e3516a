"""Settings of a domain's HTTP API."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.patterns.api_exposure.security import Authenticator

__all__ = ["ApiSettings"]


@dataclass(frozen=True)
class ApiSettings:
    """Limits and security of the API. With ``auth`` None every route is open (loopback use only)."""

    auth: Authenticator | None = None
    max_body_bytes: int = 1_000_000
    request_timeout: float = 30.0
    #: Seconds an Idempotency-Key claim outlives its holder (renewed every third of it while the command runs).
    idempotency_lease: float = 5.0
    readiness_outbox_lag: float = 30.0
    #: One ``interlink.access`` log line per request (interlink.observability.access_log).
    access_log: bool = False
    title: str | None = None
    version: str = "1.0.0"
