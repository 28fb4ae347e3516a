"""The records command events keep in a domain's store, declared with their model, schema and retention.

- ``~request`` (issuer, id: the command id): an :class:`OutstandingRequest`, due at its deadline (the
  deadline watch finds it through the store's ``(kind, due_at)`` index); removed by the reply or the
  timeout that settles it, so no retention applies.
- ``~reply`` (target, id: the command id): the :class:`ReplyData` it answered with; pruned by the stores'
  ``reply`` retention.
- ``~saga`` (issuer, id: the saga's id): a :class:`SagaState`; once ended, pruned by the ``saga`` retention.

A change of one of these models raises its ``schema`` and adds the upgrade from the previous one
(see :class:`~interlink.delivery.records.RecordKind`); rows written before stay readable.
"""

from __future__ import annotations

from interlink.delivery.records import RecordKind
from interlink.patterns.command_events.declarations import OutstandingRequest, ReplyData
from interlink.patterns.command_events.sagas import SagaState
from interlink.ports.kinds import REPLY_KIND, REQUEST_KIND, SAGA_KIND
from interlink.ports.store import Retained

__all__ = ["REPLIES", "REQUESTS", "SAGAS"]


def _deadline(request: OutstandingRequest) -> float | None:
    return request.deadline.timestamp() if request.deadline is not None else None


#: Outstanding requests of the issuer, due at their deadline.
REQUESTS = RecordKind(REQUEST_KIND, OutstandingRequest, due=_deadline)
#: The target's stored replies, answering a command sent again under the same id.
REPLIES = RecordKind(REPLY_KIND, ReplyData, retention=Retained.REPLY)
#: The issuer's sagas.
SAGAS = RecordKind(SAGA_KIND, SagaState, retention=Retained.SAGA)
