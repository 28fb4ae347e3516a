"""The target side: run a command event another domain sent, and answer on the issuer's reply channel.

The handler runs like a command, in the consumer's unit of work; its confirmation (or the reason of a
business failure, whose effects are dropped) is stored as a ``~reply`` record keyed by the command id,
in the same transaction as the effects and the outgoing reply. A command that arrives again with the
same id is answered from that record without running again.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError

from interlink.core.clock import Clock
from interlink.core.context import Role
from interlink.core.domain import Domain
from interlink.delivery.dispatch import Dispatcher
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConcurrencyError, DomainError, InvalidPayload, UnknownMessageType
from interlink.observability import tracing
from interlink.patterns.command_events.declarations import (
    CommandHandlerSpec,
    Outcome,
    ReplyData,
    command_handlers_of,
    reply_type_of,
)
from interlink.patterns.command_events.records import REPLIES
from interlink.ports.envelope import Envelope, describe_validation_error

__all__ = ["CommandDispatcher"]

log = logging.getLogger("interlink.command_events")


class CommandDispatcher(Dispatcher):
    """Runs a domain's ``@domain.handles(Cmd)`` handlers and stages their replies."""

    def __init__(self, domain: Domain, clock: Clock) -> None:
        self.domain = domain
        self._clock = clock
        self._by_type = {cls.message_type(): spec for cls, spec in command_handlers_of(domain).items()}

    def types(self) -> dict[str, str]:
        return {type_: f"{self.domain.name}.commands" for type_ in self._by_type}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        spec = self._by_type.get(envelope.type)
        if spec is None:
            raise UnknownMessageType(f"domain {self.domain.name!r} handles no command {envelope.type!r}")
        try:
            command = spec.command_type.model_validate(envelope.data)
        except ValidationError as exc:
            raise InvalidPayload(
                f"{envelope.type} {envelope.id}: data does not match {spec.command_type.__name__}: "
                f"{describe_validation_error(exc)}"
            ) from exc
        command_id = str((envelope.model_extra or {}).get("commandid") or envelope.id)
        stored = await REPLIES.read(uow, command_id)
        if stored is not None:
            log.info("command %s %s was handled already: replying with the stored outcome", envelope.type, command_id)
            reply = stored.record
        else:
            with tracing.command_event(self.domain.name, envelope.type, command_id):
                reply = await self._run(spec, command, envelope, uow)
            REPLIES.write(uow, command_id, reply, 0)
        if envelope.replyto:
            fields: dict[str, object] = {
                "type": reply_type_of(spec.command_type),
                "correlationid": envelope.correlationid,
                "causationid": envelope.id,
                "inreplyto": command_id,
            }
            # The reply goes to the channel the command named, whoever sent it.
            uow.stage_message(reply, {"source": self.domain.name, **fields}, None, envelope.replyto)

    async def _run(
        self, spec: CommandHandlerSpec, command: BaseModel, envelope: Envelope, uow: UnitOfWork
    ) -> ReplyData:
        ctx = self.domain.context_type(
            self.domain,
            uow,
            Role.COMMAND,
            name=spec.name,
            clock=self._clock,
            correlation_id=envelope.correlationid or envelope.id,
            causation_id=envelope.id,
        )
        try:
            result = await spec.func(ctx, command)
        except ConcurrencyError:
            raise  # not the command's fault: the consumer retries it
        except DomainError as exc:
            uow.discard()
            reason = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
            return ReplyData(outcome=Outcome.FAILED, command_type=envelope.type, reason=reason)
        confirmation = result.model_dump(mode="json") if isinstance(result, BaseModel) else None
        return ReplyData(outcome=Outcome.CONFIRMED, command_type=envelope.type, confirmation=confirmation)
