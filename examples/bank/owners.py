"""Who answers for each of the bank's domains, and the license of their interfaces: the ``contact`` and
``license`` of every OpenAPI and AsyncAPI document the domains publish."""

from __future__ import annotations

__all__ = ["LICENSE", "team"]

LICENSE = {"name": "MIT", "url": "https://opensource.org/license/mit"}


def team(domain: str) -> dict[str, str]:
    """The contact of the team owning ``domain``."""
    return {
        "name": f"The {domain} team",
        "email": f"{domain}-team@bank.example",
        "url": f"https://bank.example/teams/{domain}",
    }
