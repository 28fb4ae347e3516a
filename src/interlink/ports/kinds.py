"""The kinds of the framework's own records in a store's aggregates table, where the stores must know them.

Every kind starting with ``~`` is the framework's (domain code cannot write one): replicas
(``~replica:<name>``), pending flags (``~pending:<subscription>``), counters (``~counters:...``), and the
records of command events below. Each pattern declares its kinds (their model, schema version and retention)
with :class:`~interlink.delivery.records.RecordKind` in its own package; the names here are those the stores
act on: their retention prunes stored replies, ended sagas and counters (:func:`retention_of`), and the
schema's migrations date the outstanding requests. The rest of what these records hold is the pattern's.
"""

from __future__ import annotations

from interlink.ports.store import COUNTERS_PREFIX, Retained

__all__ = ["ENDED_SAGA_STATES", "REPLY_KIND", "REQUEST_KIND", "SAGA_KIND", "retention_of"]

#: A saga's state (id: the saga's id).
SAGA_KIND = "~saga"
#: A command event still waiting for its reply (id: the command id); its due time is its deadline.
REQUEST_KIND = "~request"
#: The reply a domain gave to a command event, kept to answer a redelivered command the same way.
REPLY_KIND = "~reply"
#: The ``status`` of a saga's state that ends it: retention may prune it once it is old enough.
ENDED_SAGA_STATES = frozenset({"completed", "compensated", "failed", "abandoned"})


def retention_of(kind: str) -> Retained | None:
    """The store retention that prunes records of ``kind`` (the stores' rules, docs/retention.md), or None
    when no store prunes them by age: they are removed by what tracks them, or bounded by it."""
    if kind == REPLY_KIND:
        return Retained.REPLY
    if kind == SAGA_KIND:
        return Retained.SAGA  # the ended ones: a running saga is never pruned
    if kind.startswith(COUNTERS_PREFIX):
        return Retained.COUNTERS
    return None
