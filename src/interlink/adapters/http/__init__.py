"""The External Service adapter over httpx: ``HttpExternalServices`` (``adapters/http``).

It implements the ``ExternalServices`` port of ``interlink.core.external``; ``interlink.testing.fakes``
has its test double, ``FakeExternalServices``, built on it so both fail the same way.
"""

from interlink.adapters.http.circuit import CircuitBreaker
from interlink.adapters.http.client import HttpExternalServices
from interlink.adapters.http.config import ClientPolicy, ServiceEndpoint

__all__ = ["CircuitBreaker", "ClientPolicy", "HttpExternalServices", "ServiceEndpoint"]
