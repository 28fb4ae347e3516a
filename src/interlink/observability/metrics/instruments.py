"""Every metric Interlink records: name, kind, unit, attributes. The one list docs/observability.md follows.

The messaging ones are OpenTelemetry's messaging semantic conventions, exactly; Interlink's own are under
``interlink.``. Durations and ages are in seconds (unit ``s``), as the conventions ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DURATION_BUCKETS", "INSTRUMENTS", "STALENESS_BUCKETS", "Instrument", "Kind"]

Kind = Literal["counter", "histogram", "gauge"]

#: The buckets the messaging conventions advise for operation and processing durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: Staleness runs from milliseconds (a replica on a quiet landscape) to hours (a deferred copy nobody read).
STALENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)

_SEND = ("messaging.system", "messaging.destination.name", "messaging.operation.name", "error.type")
_CONSUME = ("messaging.system", "messaging.destination.name", "messaging.consumer.group.name",
            "messaging.operation.name", "error.type")  # fmt: skip


@dataclass(frozen=True)
class Instrument:
    """One metric as declared to the OpenTelemetry meter."""

    name: str
    kind: Kind
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] = ()


INSTRUMENTS: tuple[Instrument, ...] = (
    # -- the messaging semantic conventions --------------------------------------------------------------
    Instrument("messaging.client.sent.messages", "counter", "{message}",
               "Messages the relay handed to the broker (confirmed, or failed with error.type).", _SEND),
    Instrument("messaging.client.consumed.messages", "counter", "{message}",
               "Messages a consumer received from the broker (redeliveries included).", _CONSUME[:4]),
    Instrument("messaging.client.operation.duration", "histogram", "s",
               "Duration of a publish (send) or an acknowledgement (settle) of a batch.",
               (*_CONSUME, "messaging.operation.type"), DURATION_BUCKETS),
    Instrument("messaging.process.duration", "histogram", "s",
               "Duration of handling one message (its handler, not its commit).", _CONSUME, DURATION_BUCKETS),
    # -- delivery --------------------------------------------------------------------------------------
    Instrument("interlink.messages.processed", "counter", "{message}",
               "Messages settled by a consumer, by outcome: success, duplicate, retry, dead_letter.",
               ("interlink.domain", "messaging.consumer.group.name", "interlink.outcome")),
    Instrument("interlink.retries", "counter", "{message}",
               "Deliveries handed back for a retry, by error class (transient, permanent, poison).",
               ("interlink.domain", "messaging.consumer.group.name", "interlink.error.class", "error.type")),
    Instrument("interlink.dead_letters", "counter", "{message}",
               "Messages parked in dead letters (committed), by subscription and error class.",
               ("interlink.domain", "messaging.consumer.group.name", "interlink.error.class", "error.type")),
    Instrument("interlink.outbox.depth", "gauge", "{message}",
               "Outbox rows not yet confirmed by the broker (sampled from the store).", ("interlink.domain",)),
    Instrument("interlink.outbox.oldest_age", "gauge", "s",
               "Age of the oldest outbox row not yet confirmed, 0 when empty (sampled).", ("interlink.domain",)),
    Instrument("interlink.consumer.lag", "gauge", "{message}",
               "Messages of a subscription waiting at the broker, where it can tell: in flight included on the "
               "embedded, memory and NATS brokers, ready ones only on RabbitMQ; not reported on Redis (sampled).",
               ("interlink.domain", "messaging.system", "messaging.consumer.group.name")),
    # -- patterns --------------------------------------------------------------------------------------
    Instrument("interlink.saga.transitions", "counter", "{saga}",
               "Sagas that entered a state (committed): running at start, then compensating, completed, "
               "compensated or failed.", ("interlink.domain", "interlink.saga.name", "interlink.saga.state")),
    Instrument("interlink.sagas", "gauge", "{saga}",
               "Sagas in the store by state: running, compensating, failed (sampled).",
               ("interlink.domain", "interlink.saga.state")),
    Instrument("interlink.deferred.pending", "gauge", "{resource}",
               "Resources flagged pending by a deferred update (sampled).",
               ("interlink.domain", "messaging.consumer.group.name")),
    Instrument("interlink.deferred.oldest_age", "gauge", "s",
               "Age of the oldest pending flag of a deferred update, 0 when none (sampled).",
               ("interlink.domain", "messaging.consumer.group.name")),
    Instrument("interlink.file.records", "counter", "{record}",
               "Inbound file records committed, by outcome: accepted or rejected.",
               ("interlink.domain", "interlink.file.source", "interlink.outcome")),
    Instrument("interlink.external_service.duration", "histogram", "s",
               "Duration of one External Service call, retries included.",
               ("interlink.external_service.name", "http.response.status_code", "error.type"), DURATION_BUCKETS),
    Instrument("interlink.external_service.circuit_state", "gauge", "1",
               "Circuit breaker of an External Service: 0 closed, 1 half-open, 2 open.",
               ("interlink.external_service.name",)),
    # -- staleness per pattern -------------------------------------------------------------------------
    Instrument("interlink.notification.fetch_delay", "histogram", "s",
               "State change notification: event time to the local copy updated by the fetch-back (committed).",
               ("interlink.domain", "messaging.consumer.group.name"), STALENESS_BUCKETS),
    Instrument("interlink.replica.lag", "histogram", "s",
               "Event-carried state transfer: event time to the replica applied (committed).",
               ("interlink.domain", "interlink.replica.name"), STALENESS_BUCKETS),
    Instrument("interlink.command.confirmation_latency", "histogram", "s",
               "Command events: command sent to its reply applied (committed), by outcome.",
               ("interlink.domain", "interlink.command.type", "interlink.outcome"), STALENESS_BUCKETS),
    Instrument("interlink.deferred.read_age", "histogram", "s",
               "Deferred update: age of the copy a read was served, by outcome: current or fresh (0), stale.",
               ("interlink.domain", "messaging.consumer.group.name", "interlink.outcome"), STALENESS_BUCKETS),
)  # fmt: skip
