"""Pattern 1 as the rest of the framework sees it: its collectors. The routes themselves are served by the
runtime's HTTP server, which builds them with :func:`interlink.patterns.api_exposure.build_api`."""

from __future__ import annotations

from interlink.patterns.api_exposure.spec import external_services, http_api
from interlink.patterns.pattern import Pattern
from interlink.specs.model import API_EXPOSURE

__all__ = ["PATTERN"]

PATTERN = Pattern(API_EXPOSURE, "API Exposure", collectors=(http_api, external_services))
