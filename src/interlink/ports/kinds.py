"""The kinds of the framework's own records in a store's aggregates table, where the stores must know them.

Every kind starting with ``~`` is the framework's (domain code cannot write one): replicas
(``~replica:<name>``), pending flags (``~pending:<subscription>``), counters (``~counters:...``), and the
records of command events below. The stores' retention prunes stored replies and ended sagas, and the
schema's migrations date the outstanding requests; the rest of what these records hold is the pattern's.
"""

from __future__ import annotations

__all__ = ["ENDED_SAGA_STATES", "REPLY_KIND", "REQUEST_KIND", "SAGA_KIND"]

#: A saga's state (id: the saga's id).
SAGA_KIND = "~saga"
#: A command event still waiting for its reply (id: the command id); its due time is its deadline.
REQUEST_KIND = "~request"
#: The reply a domain gave to a command event, kept to answer a redelivered command the same way.
REPLY_KIND = "~reply"
#: The ``status`` of a saga's state that ends it: retention may prune it once it is old enough.
ENDED_SAGA_STATES = frozenset({"completed", "compensated", "failed", "abandoned"})
