"""Pattern 2 in the specification model: files delivered from outside the landscape."""

from __future__ import annotations

from interlink.core.domain import Domain
from interlink.patterns.inbound_file.declarations import inbound_files_of
from interlink.specs.model import INBOUND_FILE, DomainSpec, Link

__all__ = ["inbound_files"]


def inbound_files(domain: Domain, spec: DomainSpec) -> None:
    """Every inbound file source is a link from its files to the domain."""
    for source in inbound_files_of(domain).values():
        label = f"{source.pattern} ({source.format.kind})"
        spec.links.append(Link(f"files:{domain.name}:{source.name}", domain.name, INBOUND_FILE, label, source.name))
