"""Operations: what an operator sees of a domain and does to it (dead letters, sagas, audit log, status).

One facade, :class:`Operations`, serves every client (the CLI's commands, the console); each action takes
the actor and a reason and is written to the domain's append-only audit log. See docs/operations.md.
"""

from interlink.operations.facade import Operations
from interlink.operations.flows import ArrowFigures, DomainTraffic, FlowMeter, TypeBacklog, arrow_figures
from interlink.operations.opening import open_operations
from interlink.operations.views import (
    AuditEntry,
    DeadLetterGroup,
    DeadLetterView,
    DomainStatus,
    FileStatus,
    Outcome,
    ReplicaStatus,
    SagaTimeline,
    SagaView,
    TimelineEntry,
)

__all__ = [
    "ArrowFigures",
    "AuditEntry",
    "DeadLetterGroup",
    "DeadLetterView",
    "DomainStatus",
    "DomainTraffic",
    "FileStatus",
    "FlowMeter",
    "Operations",
    "Outcome",
    "ReplicaStatus",
    "SagaTimeline",
    "SagaView",
    "TimelineEntry",
    "TypeBacklog",
    "arrow_figures",
    "open_operations",
]
