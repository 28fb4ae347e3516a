"""The verb of pattern 5 on :class:`~interlink.core.domain.Domain`: Event-Carried State Transfer (see
:mod:`interlink.core.state_transfer`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interlink.core.external import ExternalService
from interlink.core.indexed import indexed_fields
from interlink.core.messages import Message
from interlink.core.retry import RetryPolicy
from interlink.core.state_transfer import Replica, ReplicaSpec, StateTransferEvent, replica_spec
from interlink.exceptions import ConfigurationError

__all__ = ["StateTransferVerbs"]


class StateTransferVerbs:
    """Mixin of Domain: ``replica`` and ``replica_for``."""

    if TYPE_CHECKING:
        name: str
        replicas: dict[str, ReplicaSpec]
        service_providers: dict[str, str]

        def _retry(self, message_type: type[Message], retry: RetryPolicy | None) -> None: ...

    def replica(
        self,
        event: type[StateTransferEvent],
        *,
        model: type[Replica] | None = None,
        fields: Sequence[str] | None = None,
        name: str | None = None,
        source: ExternalService[Any] | None = None,
        retry: RetryPolicy | None = None,
    ) -> ReplicaSpec:
        """Keep a local copy of another domain's aggregates from its fat ``event`` (see
        :mod:`interlink.core.state_transfer`): a ``model`` with the fields this domain needs, or their
        names as ``fields``; ``source`` is the producer's list query a rebuild pages through; ``retry``
        overrides the runtime's retry policy for these events."""
        spec = replica_spec(
            self.name, event, model=model, fields=list(fields) if fields is not None else None, name=name, source=source
        )
        if spec.name in self.replicas:
            raise ConfigurationError(f"domain {self.name!r} already declares replica {spec.name!r}")
        indexed_fields(spec.model)
        self._retry(event, retry)
        if source is not None:
            self.service_providers[source.name] = event.owner()
        self.replicas[spec.name] = spec
        return spec

    def replica_for(self, model: type[Replica]) -> ReplicaSpec:
        """The replica a model backs; ConfigurationError when this domain declares none for it."""
        for spec in self.replicas.values():
            if spec.model is model:
                return spec
        raise ConfigurationError(f"{model.__name__} backs no replica of domain {self.name!r}; declare it with "
                                 f"{self.name}.replica(Event, model={model.__name__})")  # fmt: skip
