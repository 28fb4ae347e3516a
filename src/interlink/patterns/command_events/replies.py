"""The issuer side: settle an outstanding request with its reply (or its timeout), exactly once.

Settling removes the ``~request`` record at the version it was read, in the same transaction as what the
reply changes: a real reply and a timeout racing for one request cannot both commit, and a duplicate or
late reply finds no request and is only logged (its message is acknowledged like any other).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError

from interlink.core.clock import Clock
from interlink.core.context import Role
from interlink.core.domain import Domain
from interlink.core.messages import Command
from interlink.delivery.dispatch import Dispatcher
from interlink.delivery.records import Found
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, InvalidPayload
from interlink.observability import tracing
from interlink.observability.metrics import hooks as metrics
from interlink.patterns.command_events.declarations import (
    OutstandingRequest,
    Reply,
    ReplyData,
    replies_channel,
    reply_handlers_of,
    reply_type_of,
)
from interlink.patterns.command_events.records import REQUESTS, SAGAS
from interlink.patterns.command_events.sagas import advance, sagas_of
from interlink.patterns.command_events.sending import send_command
from interlink.ports.envelope import Envelope, describe_validation_error

__all__ = ["ReplyDispatcher", "reply_command_types", "settle"]

log = logging.getLogger("interlink.command_events")


def reply_command_types(domain: Domain) -> dict[str, type[Command]]:
    """Every command type whose replies this domain takes (reply handlers and saga steps), by reply type."""
    found: dict[str, type[Command]] = {}
    for cls in reply_handlers_of(domain):
        found[reply_type_of(cls)] = cls
    for saga in sagas_of(domain).values():
        for step in saga.steps:
            found[reply_type_of(step.command)] = step.command
            if step.compensate is not None:
                found[reply_type_of(step.compensate)] = step.compensate
    return found


class ReplyDispatcher(Dispatcher):
    """Takes the replies on this domain's reply channel and settles the requests they answer."""

    def __init__(self, domain: Domain, clock: Clock) -> None:
        self.domain = domain
        self._clock = clock
        self._types = reply_command_types(domain)

    def types(self) -> dict[str, str]:
        return {type_: replies_channel(self.domain.name) for type_ in self._types}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        try:
            reply = ReplyData.model_validate(envelope.data)
        except ValidationError as exc:
            raise InvalidPayload(f"reply {envelope.id}: {describe_validation_error(exc)}") from exc
        command_id = str((envelope.model_extra or {}).get("inreplyto") or "")
        found = await REQUESTS.read(uow, command_id) if command_id else None
        if found is None:
            log.warning(
                "reply %s (%s, %s) answers no outstanding request %r of domain %r (unknown, duplicate, or late "
                "after a timeout): acknowledged, nothing changed",
                envelope.id, envelope.type, reply.outcome.value, command_id, self.domain.name,
            )  # fmt: skip
            return
        with tracing.reply(self.domain.name, envelope.type, command_id, reply.outcome.value):
            await settle(self.domain, self._clock, uow, command_id, found, reply)


async def settle(
    domain: Domain, clock: Clock, uow: UnitOfWork, command_id: str, found: Found[OutstandingRequest], reply: ReplyData
) -> None:
    """Remove the outstanding request (as read) and hand the reply to its saga or its reply handler."""
    request = found.record
    REQUESTS.delete(uow, command_id, found.version)
    metrics.reply_applied(uow, domain.name, request.command_type, request.sent_at, reply.outcome.value, clock.now)
    if request.saga is not None:
        await _advance_saga(domain, clock, uow, request, command_id, reply)
        return
    handler = next(
        (h for cls, h in reply_handlers_of(domain).items() if cls.message_type() == request.command_type), None
    )
    if handler is None:
        log.info("request %s (%s) ended %s; no reply handler takes it", command_id, request.command_type, reply.outcome)
        return
    confirmation = None
    if reply.confirmation is not None and handler.confirmation_type is not None:
        confirmation = handler.confirmation_type.model_validate(reply.confirmation)
    answer: Reply[Command, BaseModel] = Reply(
        outcome=reply.outcome,
        command=handler.command_type.model_validate(request.command),
        command_id=command_id,
        correlation_id=request.correlation_id,
        confirmation=confirmation,
        reason=reply.reason,
    )
    ctx = domain.context_type(
        domain, uow, Role.HANDLER, name=handler.name, clock=clock, correlation_id=request.correlation_id
    )
    await handler.func(ctx, answer)


async def _advance_saga(
    domain: Domain, clock: Clock, uow: UnitOfWork, request: OutstandingRequest, command_id: str, reply: ReplyData
) -> None:
    assert request.saga is not None
    state = await SAGAS.load(uow, request.saga)
    if state is None:
        log.error("request %s belongs to saga %s, which is not in the store", command_id, request.saga)
        return
    saga = sagas_of(domain).get(state.name)
    if saga is None:
        raise ConfigurationError(
            f"saga {state.id} is a {state.name!r} saga, which domain {domain.name!r} no longer declares"
        )
    now, before = clock.now(), state.status.value
    send = advance(saga, state, command_id, reply, now)
    metrics.saga_entered(uow, domain.name, saga.name, before, state.status.value)
    with tracing.saga_transition(saga.name, state.id, state.step, state.status.value):
        if send is not None:
            ctx = domain.context_type(
                domain, uow, Role.COMMAND, name=f"saga {saga.name}", clock=clock, correlation_id=state.correlation_id
            )
            send_command(
                uow, ctx, send.command, send.to, deadline=send.deadline, command_id=send.command_id, saga=state.id
            )
        SAGAS.stage(uow, state)
        if state.status.ended:
            log.info("saga %s (%s) ended %s", state.id, state.name, state.status.value)
            if saga.on_end is not None:
                ctx = domain.context_type(
                    domain, uow, Role.HANDLER, name=f"saga {saga.name}", clock=clock,
                    correlation_id=state.correlation_id,
                )  # fmt: skip
                await ctx.execute(saga.on_end, state)
