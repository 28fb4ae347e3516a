"""Bootstrap (or repair) a replica from the producer's API or the broker's history while live events flow.

Two sources, usable alone or one after the other:

- **the API** (:meth:`ReplicaRebuild.run`): pages through the producer's list query (the replica's
  ``source``: an external service whose resource answers a :class:`~interlink.core.pagination.Page` of
  aggregates, ``?limit=&cursor=``) and applies each item as if it were a fat event at the item's version;
- **the broker's history** (:meth:`ReplicaRebuild.run_history`), on a broker that retains its channels
  (NATS JetStream keeps each producing domain's stream): replays every retained fat event of the
  producer's channel, upcast like live ones. It sees tombstones too, but only as far back as the broker
  keeps messages.

Why this needs no coordination with the live consumer, and leaves neither a gap nor a double application:

- **No gap.** The domain's subscription exists before the first page is read (the runtime declares it in
  ``prepare``), so every change the producer commits after that point reaches the replica as an event,
  whether the page that carries the same aggregate was read before or after the change. A change
  committed before the subscription existed is in the pages, because a page shows committed state.
- **No double application.** Pages, history and live events all go through :func:`~.apply.apply_state`, which writes
  a copy only when its version is strictly newer than the stored one. Whichever of the page item and the
  event for one version arrives second is a no-op; an older page item arriving after a newer event is
  ignored too. Writes are version-checked against the store, so when the live consumer wrote an aggregate
  between the page's read and its commit, the commit fails with ConcurrencyError and the page is applied
  again against what is stored now.

What the API path cannot see: an aggregate deleted at the source before the rebuild and never
tombstoned in this replica stays in it (the API lists only live aggregates). Rebuild into a new replica
(or drop its records first) when that matters.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from pydantic import ValidationError

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.core.external import ExternalServices
from interlink.delivery.committer import Committer
from interlink.delivery.dispatch import read_event
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConcurrencyError, ConfigurationError, InvalidPayload
from interlink.patterns.state_transfer.apply import apply_state
from interlink.patterns.state_transfer.declarations import ReplicaSpec, StateTransferEvent, replicas_of
from interlink.ports.envelope import Envelope, describe_validation_error
from interlink.ports.store import Store

__all__ = ["RebuildReport", "ReplicaRebuild", "RetainedHistory"]


@runtime_checkable
class RetainedHistory(Protocol):
    """A broker that keeps its channels' messages after delivery and can replay them (NATS JetStream)."""

    def history(self, channel: str, types: Collection[str] | None = None) -> AsyncGenerator[bytes, None]:
        """Every message still kept on ``channel`` (of ``types``), oldest first, once each."""
        ...


@dataclass
class RebuildReport:
    """What a rebuild read and what it changed."""

    pages: int = 0
    items: int = 0
    applied: int = 0
    retried_pages: int = 0


class ReplicaRebuild:
    """Fills one replica of ``domain`` from the producer's API or the broker's history, a page per transaction."""

    def __init__(
        self,
        domain: Domain,
        replica: str,
        store: Store,
        committer: Committer,
        external: ExternalServices | None,
        clock: Clock,
        *,
        page_size: int = 200,
        attempts: int = 5,
    ) -> None:
        spec = replicas_of(domain).get(replica)
        if spec is None:
            raise ConfigurationError(
                f"domain {domain.name!r} declares no replica {replica!r}; it has {sorted(replicas_of(domain))}"
            )
        if not 1 <= page_size <= 1000:
            raise ConfigurationError(f"page_size must be between 1 and 1000, got {page_size}")
        self.spec: ReplicaSpec = spec
        self._domain = domain
        self._store = store
        self._committer = committer
        self._external = external
        self._clock = clock
        self._page_size = page_size
        self._attempts = attempts

    async def run(self, on_page: Callable[[RebuildReport], None] | None = None) -> RebuildReport:
        """Read every page of the producer's API and apply it; ``on_page`` sees the running totals after each."""
        if self.spec.source is None or self._external is None:
            raise ConfigurationError(
                f"replica {self.spec.name!r} of domain {self._domain.name!r} has no API to rebuild from: declare "
                f"it with {self._domain.name}.replica(..., source=<external service listing the aggregates>)"
            )
        report = RebuildReport()
        cursor: str | None = None
        while True:
            page = await self._page(cursor)
            await self._chunk([self._event(item) for item in page.get("items", [])], report, on_page)
            cursor = page.get("next_cursor")
            if not cursor:
                return report

    async def run_history(
        self, broker: object, on_page: Callable[[RebuildReport], None] | None = None
    ) -> RebuildReport:
        """Replay the producer's retained fat events from ``broker``, ``page_size`` per transaction."""
        if not isinstance(broker, RetainedHistory):
            raise ConfigurationError(
                f"broker {type(broker).__name__} keeps no history to rebuild replica {self.spec.name!r} from; "
                f"rebuild from the producer's API instead"
            )
        report = RebuildReport()
        channel = f"{self.spec.event.owner()}.events"
        types = self._domain.upcasters.types(self.spec.event)
        chunk: list[StateTransferEvent] = []
        async with aclosing(broker.history(channel, types)) as messages:
            async for body in messages:
                chunk.append(read_event(self._domain, Envelope.decode(body), self.spec.event))
                if len(chunk) == self._page_size:
                    await self._chunk(chunk, report, on_page)
                    chunk = []
        if chunk or not report.pages:
            await self._chunk(chunk, report, on_page)
        return report

    async def _chunk(
        self,
        events: list[StateTransferEvent],
        report: RebuildReport,
        on_page: Callable[[RebuildReport], None] | None,
    ) -> None:
        report.applied += await self._apply(events, report)
        report.pages += 1
        report.items += len(events)
        if on_page is not None:
            on_page(report)

    async def _page(self, cursor: str | None) -> dict[str, Any]:
        source = self.spec.source
        assert source is not None  # checked in __init__
        path = source.path({})
        path += ("&" if "?" in path else "?") + f"limit={self._page_size}"
        if cursor:
            path += f"&cursor={quote(cursor, safe='')}"
        assert self._external is not None  # checked in run
        body = await self._external.get(source, path, {})
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise InvalidPayload(f"{source.name} {path}: expected a page {{items, next_cursor}}, got {str(body)[:80]}")
        return body

    def _event(self, item: Any) -> StateTransferEvent:
        # The producer's aggregate as its API shows it: id, version and (at least) the fields the event sends.
        event_type = self.spec.event
        if not isinstance(item, dict):
            raise InvalidPayload(f"replica {self.spec.name!r}: a page item is {type(item).__name__}, not an object")
        try:
            return event_type.model_validate({k: v for k, v in item.items() if k in event_type.model_fields})
        except ValidationError as exc:
            raise InvalidPayload(
                f"replica {self.spec.name!r}: item {item.get('id')!r} does not match {event_type.__name__}: "
                f"{describe_validation_error(exc)}"
            ) from exc

    async def _apply(self, events: list[StateTransferEvent], report: RebuildReport) -> int:
        for _ in range(self._attempts):
            try:
                return await self._commit(events)
            except ConcurrencyError:
                # A live event wrote one of these copies meanwhile: read again, the version check decides.
                report.retried_pages += 1
        # Busy copies keep conflicting with a whole page: one transaction per event narrows the window.
        applied = 0
        for event in events:
            for attempt in range(1, self._attempts + 1):
                try:
                    applied += await self._commit([event])
                    break
                except ConcurrencyError:
                    if attempt == self._attempts:
                        raise
        return applied

    async def _commit(self, events: list[StateTransferEvent]) -> int:
        uow = UnitOfWork(self._domain, self._store, self._clock)
        applied = sum([await apply_state(uow, self.spec, event) for event in events])
        await self._committer.commit(uow.changes())
        return applied
