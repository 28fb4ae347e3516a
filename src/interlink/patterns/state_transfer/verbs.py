"""The verb of pattern 5 on :class:`~interlink.core.domain.Domain`: Event-Carried State Transfer (see
:mod:`interlink.patterns.state_transfer.declarations`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from interlink.core.context import Context, FieldValue
from interlink.core.domain import Domain
from interlink.core.external import ExternalService
from interlink.core.indexed import indexed_fields
from interlink.core.pagination import Page
from interlink.core.retry import RetryPolicy
from interlink.exceptions import ConfigurationError
from interlink.patterns.state_transfer.declarations import (
    Replica,
    ReplicaSpec,
    StateTransferEvent,
    replica_for,
    replica_spec,
    replicas_of,
)

__all__ = ["ReplicaContext", "StateTransferVerbs"]

C = TypeVar("C", bound=Replica)


class StateTransferVerbs(Domain):
    """The verbs of pattern 5 on a domain: ``replica`` and ``replica_for``."""

    @property
    def replicas(self) -> dict[str, ReplicaSpec]:
        """The replicas declared here, by name."""
        return replicas_of(self)

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
        :mod:`interlink.patterns.state_transfer.declarations`): a ``model`` with the fields this domain needs, or their
        names as ``fields``; ``source`` is the producer's list query a rebuild pages through; ``retry``
        overrides the runtime's retry policy for these events."""
        spec = replica_spec(
            self.name, event, model=model, fields=list(fields) if fields is not None else None, name=name, source=source
        )
        if spec.name in self.replicas:
            raise ConfigurationError(f"domain {self.name!r} already declares replica {spec.name!r}")
        # The model is found by its class (ctx.replica(Model, id)), so one class backs one replica here.
        taken = self.stored_kinds.get(spec.model)
        if taken is not None:
            raise ConfigurationError(
                f"{spec.model.__name__} already backs {taken!r} in domain {self.name!r}; declare one model per replica"
            )
        indexed_fields(spec.model)
        self._retry(event, retry)
        if source is not None:
            self.service_providers[source.name] = event.owner()
        self.replicas[spec.name] = spec
        self.store_kind(spec.model, spec.kind)
        return spec

    def replica_for(self, model: type[Replica]) -> ReplicaSpec:
        """The replica a model backs; ConfigurationError when this domain declares none for it."""
        return replica_for(self, model)


class ReplicaContext(Context):
    """The verbs of pattern 5 on a context: read this domain's copies of other domains' aggregates."""

    async def replica(self, model: type[C], id: str) -> C | None:
        """This domain's copy of another domain's aggregate (a replica declared with ``model``), or None
        when it was never received or was deleted at the source."""
        replica_for(self.domain, model)
        await self._session.count_reads(model, 1)
        found = await self._session.load(model, id)
        return None if found is None or found.deleted else found

    async def replicas(
        self,
        model: type[C],
        *,
        where: Mapping[str, FieldValue | None] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[C]:
        """A page of a replica's live copies (no tombstones) whose fields equal ``where``, in id order."""
        replica_for(self.domain, model)
        return await self.list(model, where={**(where or {}), "deleted": False}, cursor=cursor, limit=limit)
