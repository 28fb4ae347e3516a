"""External services: another domain's API as this domain sees it, through a translation.

The declaration lives in the core (no I/O): the other domain's name, the path of the resource, and the
function that translates its payload into this domain's own model, so business logic never depends on
another domain's data structures (the anti-corruption layer of the method). The base URL comes from
configuration at run time, never from a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from interlink.exceptions import ConfigurationError

__all__ = ["ExternalService", "ExternalServices"]

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"{([a-z_][a-z0-9_]*)}")


@dataclass(frozen=True, eq=False)
class ExternalService(Generic[T]):
    """Another domain's resource, fetched through its API and translated into this domain's language."""

    name: str
    resource: str
    translate: Callable[[Any], T]
    base_url: str | None = None
    timeout: float = 5.0
    retries: int = 2
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.resource.startswith("/"):
            raise ConfigurationError(f"external service {self.name!r}: resource must start with '/'")
        if self.timeout <= 0 or self.retries < 0:
            raise ConfigurationError(f"external service {self.name!r}: timeout > 0 and retries >= 0")

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names between braces in the resource path."""
        return tuple(_PLACEHOLDER.findall(self.resource))

    def path(self, params: Mapping[str, object]) -> str:
        """The resource path with its parameters filled in (each percent-encoded as one path segment)."""
        from urllib.parse import quote

        missing = [p for p in self.parameters if p not in params]
        if missing:
            raise ConfigurationError(f"external service {self.name!r}: missing path parameter(s) {missing}")
        return _PLACEHOLDER.sub(lambda m: quote(str(params[m.group(1)]), safe=""), self.resource)


class ExternalServices(Protocol):
    """What a unit of work uses to reach external services (implemented by ``adapters/http``)."""

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        """GET ``path`` of the service; returns the decoded JSON body or raises ExternalServiceError."""
        ...
