"""What an operator can do to a saga that is stuck: re-send its step, compensate it, or abandon it.

Each action is one transaction on the issuer's store, with its audit entry:

- **retry** re-sends the command the saga waits for, with the same command id: a receiver that handled it
  already answers from its stored reply (``~reply``) instead of running it twice;
- **compensate** settles the request the running saga waits for as failed (the operator's reason), so the
  saga's own transition runs the compensations of the steps before it, last first, as after a failure;
- **abandon** ends the saga as ``abandoned``: its outstanding request is dropped (a late reply then changes
  nothing), no more steps and no compensations are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interlink.core.clock import Clock
from interlink.core.context import Role
from interlink.core.domain import Domain
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, InvalidInput, NotFoundError
from interlink.patterns.command_events.declarations import Outcome, ReplyData
from interlink.patterns.command_events.records import REQUESTS, SAGAS
from interlink.patterns.command_events.replies import settle
from interlink.patterns.command_events.sagas import Saga, SagaEntry, SagaState, SagaStatus, sagas_of
from interlink.patterns.command_events.sending import send_command
from interlink.ports.store import AuditRecord, ChangeSet, Store

__all__ = ["Audit", "abandon", "compensate", "retry_step", "saga_summary"]

#: Makes the audit record of an action from the saga's state before and after it.
Audit = Callable[[dict[str, Any], dict[str, Any]], AuditRecord]


def saga_summary(state: SagaState) -> dict[str, Any]:
    """What the audit log keeps of a saga an action changes."""
    return {
        "saga_id": state.id,
        "name": state.name,
        "status": state.status.value,
        "step": state.step + 1,
        "awaiting": state.awaiting,
        "reason": state.reason,
    }


async def _load(domain: Domain, uow: UnitOfWork, saga_id: str) -> tuple[SagaState, Saga]:
    state = await SAGAS.load(uow, saga_id)
    if state is None:
        raise NotFoundError("saga", saga_id)
    saga = sagas_of(domain).get(state.name)
    if saga is None:
        raise ConfigurationError(
            f"saga {saga_id} is a {state.name!r} saga, which domain {domain.name!r} no longer declares"
        )
    if state.status.ended:
        raise InvalidInput(f"saga {saga_id} has ended ({state.status.value}): there is nothing to do to it")
    return state, saga


async def retry_step(domain: Domain, store: Store, clock: Clock, saga_id: str, audit: Audit) -> ChangeSet:
    """The change that re-sends the saga's awaited command under its command id (``audit(before, after)``
    makes the audit record)."""
    uow = UnitOfWork(domain, store, clock)
    state, saga = await _load(domain, uow, saga_id)
    command_id = state.awaiting
    if command_id is None:
        raise InvalidInput(f"saga {saga_id} waits for no reply: there is no step to retry")
    before = saga_summary(state)
    step = saga.steps[state.step]
    undo = command_id.endswith("-undo")
    command_type = step.compensate if undo else step.command
    assert command_type is not None
    found = await REQUESTS.read(uow, command_id)
    request = found.record if found is not None else None
    data = saga.data_type.model_validate(state.data)
    command = (
        command_type.model_validate(request.command)
        if request is not None
        else (step.make_compensation(data) if undo else step.make(data))
    )
    deadline = request.deadline if request is not None else state.deadline
    ctx = domain.context_type(
        domain, uow, Role.COMMAND, name=f"saga {saga.name}", clock=clock, correlation_id=state.correlation_id
    )
    send_command(uow, ctx, command, step.target(), deadline=deadline, command_id=command_id, saga=state.id)
    now = clock.now()
    state.history.append(SagaEntry(at=now, step=state.step, what="operator: step re-sent", detail=command_id))
    SAGAS.stage(uow, state)
    change = uow.changes()
    if found is not None:
        # The request exists: rewrite it (same command id, so a reply settles it) rather than create it.
        change.writes = [
            w._replace(expected_version=found.version, new_version=found.version + 1)
            if (w.kind, w.id) == (REQUESTS.kind, command_id)
            else w
            for w in change.writes
        ]
    change.audit.append(audit(before, saga_summary(state) | {"resent": command_id}))
    return change


async def compensate(domain: Domain, store: Store, clock: Clock, saga_id: str, reason: str, audit: Audit) -> ChangeSet:
    """The change that fails the running saga's awaited step with ``reason`` and starts its compensations."""
    uow = UnitOfWork(domain, store, clock)
    state, _ = await _load(domain, uow, saga_id)
    if state.status is not SagaStatus.RUNNING or state.awaiting is None:
        raise InvalidInput(
            f"saga {saga_id} is {state.status.value}: only a running saga waiting for a step is compensated "
            "(retry its step to re-send a compensation)"
        )
    before = saga_summary(state)
    command_id = state.awaiting
    found = await REQUESTS.read(uow, command_id)
    if found is None:
        raise InvalidInput(f"saga {saga_id}: its request {command_id} is settled already; look again")
    reply = ReplyData(outcome=Outcome.FAILED, command_type=found.record.command_type, reason=f"operator: {reason}")
    await settle(domain, clock, uow, command_id, found, reply)
    after = await SAGAS.load(uow, saga_id)
    assert after is not None
    change = uow.changes()
    change.audit.append(audit(before, saga_summary(after)))
    return change


async def abandon(domain: Domain, store: Store, clock: Clock, saga_id: str, reason: str, audit: Audit) -> ChangeSet:
    """The change that ends the saga as abandoned and drops its outstanding request."""
    uow = UnitOfWork(domain, store, clock)
    state, _ = await _load(domain, uow, saga_id)
    before = saga_summary(state)
    if state.awaiting is not None:
        found = await REQUESTS.read(uow, state.awaiting)
        if found is not None:
            REQUESTS.delete(uow, state.awaiting, found.version)
    state.awaiting = None
    state.status = SagaStatus.ABANDONED
    state.reason = f"abandoned: {reason}"
    state.history.append(SagaEntry(at=clock.now(), step=state.step, what="operator: abandoned", detail=reason))
    SAGAS.stage(uow, state)
    change = uow.changes()
    change.audit.append(audit(before, saga_summary(state)))
    return change
