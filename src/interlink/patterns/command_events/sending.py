"""Sending command events and starting sagas, staged in the unit of work of the command that does it.

A command event travels on its target's commands channel; when the issuer awaits the reply (a reply
handler, or a saga's step) the outstanding request is staged with it as a ``~request`` record, whose due
time is its deadline, so the deadline watch finds it through the store's index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlink.core.context import Context, Session
from interlink.core.messages import Command
from interlink.exceptions import RuleViolation
from interlink.observability import tracing
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.command_events.declarations import OutstandingRequest, replies_channel, reply_handlers_of
from interlink.patterns.command_events.records import REQUESTS, SAGAS
from interlink.patterns.command_events.sagas import Saga, begin
from interlink.ports.envelope import new_message_id

__all__ = ["send_command", "stage_saga"]


def send_command(
    session: Session,
    ctx: Context,
    command: Command,
    to: str,
    *,
    deadline: datetime | None = None,
    command_id: str | None = None,
    saga: str | None = None,
) -> str:
    """Stage a command event to ``to`` and return its command id; with the outstanding request when a reply
    is awaited (a reply handler of ``ctx``'s domain, or ``saga``), due at ``deadline``."""
    owner = command.__dict__.get("__owner__") or type(command).__dict__.get("__owner__")
    if owner and owner != to:
        raise RuleViolation(f"{type(command).__name__} is a command of domain {owner!r}, not {to!r}")
    domain = ctx.domain.name
    command_id = command_id or new_message_id()
    fields: dict[str, object] = {
        "type": f"{to}.{command.message_name()}",
        "source": domain,
        "correlationid": ctx.correlation_id,
        "causationid": ctx.causation_id,
        "targetdomain": to,
        "replyto": replies_channel(domain),
        "commandid": command_id,
    }
    session.stage_message(command, fields)
    if saga is not None or type(command) in reply_handlers_of(ctx.domain):
        request = OutstandingRequest(
            command_type=str(fields["type"]),
            command=command.model_dump(mode="json"),
            to=to,
            correlation_id=ctx.correlation_id,
            sent_at=ctx.now(),
            deadline=deadline,
            saga=saga,
        )
        REQUESTS.write(session, command_id, request, 0)
    return command_id


def stage_saga(session: Session, ctx: Context, saga: Saga, data: Any) -> str:
    """Stage a new saga's state and its first command; returns the saga's id."""
    state, first = begin(saga, new_message_id(), data, ctx.correlation_id, ctx.now())
    SAGAS.stage(session, state)
    metrics.saga_entered(session, ctx.domain.name, saga.name, None, state.status.value)
    with tracing.saga_transition(saga.name, state.id, state.step, "begin"):
        send_command(
            session, ctx, first.command, first.to, deadline=first.deadline, command_id=first.command_id, saga=state.id
        )
    return state.id
