"""Pattern 1 in the specification model: the routes a domain serves, and the APIs of others it calls."""

from __future__ import annotations

from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.specs.model import API_EXPOSURE, DomainSpec, Link

__all__ = ["external_services", "http_api"]


def http_api(domain: Domain, spec: DomainSpec) -> None:
    """Commands and queries served over HTTP; the OpenAPI document describes them."""
    declared: list[CommandSpec | QuerySpec] = [*domain.commands.values(), *domain.queries.values()]
    spec.routes.extend(d.http for d in declared if d.http)


def external_services(domain: Domain, spec: DomainSpec) -> None:
    """Every external service is a call to another domain's (or system's) API. One a declaration names as
    the API of an event's producer (a notification's fetch, a replica's rebuild source) links to that
    producer, whatever the service's name."""
    for service in domain.external_services.values():
        provider = domain.service_providers.get(service.name, service.name)
        spec.links.append(Link(domain.name, provider, API_EXPOSURE, f"GET {service.resource}"))
