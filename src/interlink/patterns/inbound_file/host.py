"""What file intake needs from a running domain: a small protocol, so this pattern imports no runtime."""

from __future__ import annotations

from typing import Protocol

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.delivery.committer import Committer
from interlink.ports.store import Store

__all__ = ["IntakeHost"]


class IntakeHost(Protocol):
    """A domain at run time (``interlink.runtime.DomainRuntime`` is one): its store, the committer that
    groups its transactions, its clock and the external services its commands may call."""

    domain: Domain
    store: Store
    committer: Committer
    clock: Clock
    external: ExternalServices | None
