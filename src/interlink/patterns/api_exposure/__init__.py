"""Pattern 1, API Exposure: a domain's commands and queries served over HTTP, no business logic in between.

The seed's "API: Access to Command" and "API: Access to Query": :func:`build_api` turns the declarations
(``@domain.command(http="POST /loan-requests")``, ``@domain.query(http="GET /loan-requests/{id}")``)
into routes, OpenAPI 3.1, RFC 9457 errors, Idempotency-Key, ETag / If-Match and pluggable authentication.
"""

from interlink.patterns.api_exposure.app import build_api
from interlink.patterns.api_exposure.problems import Problem
from interlink.patterns.api_exposure.security import (
    ApiKeyAuthenticator,
    Authenticator,
    JwtAuthenticator,
    Principal,
)
from interlink.patterns.api_exposure.settings import ApiSettings

__all__ = [
    "ApiKeyAuthenticator",
    "ApiSettings",
    "Authenticator",
    "JwtAuthenticator",
    "Principal",
    "Problem",
    "build_api",
]
