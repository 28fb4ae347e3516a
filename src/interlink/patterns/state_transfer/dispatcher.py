"""The dispatcher that keeps a domain's replicas from the producers' fat events."""

from __future__ import annotations

from interlink.core.clock import Clock
from interlink.core.domain import Domain
from interlink.delivery.dispatch import Dispatcher, read_event, run_handlers
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, UnknownMessageType
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.state_transfer.apply import apply_state
from interlink.patterns.state_transfer.declarations import ReplicaSpec, replicas_of
from interlink.ports.envelope import Envelope

__all__ = ["ReplicaDispatcher"]


class ReplicaDispatcher(Dispatcher):
    """Applies each fat event (any version this domain can upcast) to the replica declared for it.

    One event type feeds one replica of a domain; the copy is written in the same transaction as the
    inbox mark, so a redelivery finds it applied already (and the version check would ignore it anyway).
    The domain's ``@domain.on`` handlers of the same event run next, in the same unit of work, so they
    read the updated copy; they run for every delivery, stale ones included (``event.version`` tells).
    """

    def __init__(self, domain: Domain, clock: Clock) -> None:
        self.domain = domain
        self._clock = clock
        self._routes: dict[str, ReplicaSpec] = {}
        for spec in replicas_of(domain).values():
            for type_ in domain.upcasters.types(spec.event):
                if type_ in self._routes:
                    raise ConfigurationError(
                        f"domain {domain.name!r}: replicas {self._routes[type_].name!r} and {spec.name!r} "
                        f"both follow {type_}; declare one replica per event"
                    )
                self._routes[type_] = spec

    def types(self) -> dict[str, str]:
        return {t: f"{spec.event.owner()}.events" for t, spec in self._routes.items()}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        spec = self._routes.get(envelope.type)
        if spec is None:
            raise UnknownMessageType(f"domain {self.domain.name!r} keeps no replica from {envelope.type!r}")
        event = read_event(self.domain, envelope, spec.event)
        if await apply_state(uow, spec, event):
            metrics.replica_applied(uow, self.domain.name, spec.name, envelope.time, self._clock.now)
        handlers = [h for h in self.domain.handlers if h.event_type is spec.event]
        if handlers:
            await run_handlers(self.domain, self._clock, handlers, event, envelope, uow)
