"""What a pattern hands the rest of the framework: one :class:`Pattern` object per package.

The runtime, the specifications and the landscape never name a pattern. They iterate over the registration
list (:data:`interlink.patterns.registry.PATTERNS`) and ask each pattern for its parts:

- ``collectors``: functions that read a domain's declarations and add channels, operations, routes or links
  to its :class:`~interlink.specs.model.DomainSpec` (the AsyncAPI and OpenAPI documents and the landscape
  come from that model);
- ``parts``: for one running domain, the pieces of the pattern that run there (:class:`Part`): dispatchers
  for the consumer loop, background work with a start and a stop, a refresher for ``ctx.fresh``...

A pattern that needs none of these leaves them empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.core.context import Refresher
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.core.messages import Event
from interlink.delivery.committer import Committer
from interlink.delivery.dispatch import Dispatcher
from interlink.observability.metrics import Readings
from interlink.ports.store import Store

if TYPE_CHECKING:
    from interlink.specs.model import DomainSpec

__all__ = ["Collector", "Host", "Part", "Pattern"]

Collector = Callable[[Domain, "DomainSpec"], None]


class Host(Protocol):
    """A domain at run time, as its patterns see it (``interlink.runtime.DomainRuntime`` is one): its store,
    the committer that groups its transactions, its clock and the external services its commands may call."""

    domain: Domain
    store: Store
    committer: Committer
    clock: Clock
    external: ExternalServices | None


class Part:
    """A pattern's piece of one running domain. Each hook does nothing unless a pattern overrides it.

    The runtime starts the parts after the relay and the consumers, stops them before (so no new work
    comes in while the consumers finish), and flushes them last, once nothing else runs.
    """

    #: The dispatchers that take this pattern's message types in the domain's subscription.
    dispatchers: Sequence[Dispatcher] = ()
    #: Events whose plain ``@domain.on`` handlers this part's dispatchers run themselves (after their own
    #: work), so the generic event-handler dispatcher leaves them alone.
    absorbs: frozenset[type[Event]] = frozenset()
    #: Local copies of other domains' data this part keeps, whose reads ``interlink advise`` counts.
    kept: Sequence[type[Aggregate]] = ()
    #: What brings a deferred resource up to date before ``ctx.fresh`` reads it (at most one per domain).
    refresher: Refresher | None = None
    #: What :meth:`ready` waits for, as the start-up log names it.
    needs: str = "what the pattern needs"

    async def ready(self) -> None:
        """One start-up attempt at what this part needs outside the store and broker (raise while it is not
        there: the runtime retries within its start-up waits)."""

    async def start(self) -> None:
        """Start background work."""

    async def stop(self) -> None:
        """Stop background work, finishing what is in hand."""

    async def flush(self) -> None:
        """Write what is kept in memory (counters); runs when the domain stops or detaches."""

    async def sample(self, readings: Readings, now: datetime) -> None:
        """Set this part's gauges from the store (pending flags, running sagas...); the runtime calls it every
        metrics interval while metrics are on, never per scrape."""

    async def tick(self) -> int:
        """Do at once what is due by the domain's clock (a timeout...), as the background work would at its
        next round; returns how many things it did. The test kit's ``settle()`` calls it after moving time."""
        return 0


@dataclass(frozen=True)
class Pattern:
    """One integration pattern: its name in the documents and what it adds to specs and to running domains."""

    #: The value of ``x-interlink-pattern`` in the documents (``state-change-notification``...).
    name: str
    #: What the seed calls it.
    title: str
    #: Functions adding this pattern's declarations to a domain's specification model, run in order.
    collectors: tuple[Collector, ...] = ()
    #: The parts of this pattern that run in one domain (none when the domain declares none of it).
    parts: Callable[[Host], Sequence[Part]] = lambda host: ()
    #: ``"module:function"`` adding the pattern's commands to the ``interlink`` command (a Typer app); the
    #: module is imported only by the command line, as it sits above the runtime.
    commands: str | None = None
