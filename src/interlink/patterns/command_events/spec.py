"""Command events, their replies and sagas in the specification model.

The target of a command event receives it on its commands channel and answers on the issuer's replies
channel, named by the command's ``replyto`` (``<issuer>.replies``, known only at run time, from the
message). The issuer sends it there, from a reply handler's declaration or a saga's step, and takes the
reply on its own replies channel: an AsyncAPI 3 ``reply``. A reply is a
:class:`~interlink.patterns.command_events.declarations.ReplyData` of type ``<target>.<Name>.Reply``: ``outcome`` says
whether the target confirmed the command (``confirmation`` holds its result), refused it, or the issuer's
deadline passed first (``reason`` says why); a timeout is written by the issuer itself, in the same shape.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, Field, create_model

from interlink.core.domain import Domain
from interlink.core.messages import Command
from interlink.patterns.command_events.declarations import (
    ReplyData,
    command_handlers_of,
    replies_channel,
    reply_handlers_of,
)
from interlink.patterns.command_events.sagas import Saga, sagas_of
from interlink.specs.model import (
    COMMAND_EVENT,
    DomainSpec,
    MessageSpec,
    Operation,
    Reply,
    SagaSpec,
    SagaStepSpec,
    operation_id,
    summary_of,
)

__all__ = ["command_messages", "commands_channel", "reply_handlers", "reply_model", "sagas"]


def commands_channel(target: str) -> str:
    """Where the command events directed to a domain travel."""
    return f"{target}.commands"


def _command_type(command: type[Command], target: str) -> str:
    """The CloudEvents type of a command event sent to ``target`` (``<target>.<Name>``)."""
    return command.message_type() if command.__dict__.get("__owner__") else f"{target}.{command.message_name()}"


@functools.cache
def reply_model(command: type[Command], confirmation: type[BaseModel] | None) -> type[ReplyData]:
    """The data of the replies to ``command``: :class:`ReplyData` with ``confirmation`` typed as the handler's
    result when it is known (a dictionary otherwise)."""
    typed: Any = confirmation if confirmation not in (None, BaseModel) else dict[str, Any]
    kept = f", with {confirmation.__name__}" if typed is confirmation and confirmation is not None else ""
    return create_model(
        f"{command.__name__}Reply",
        __base__=ReplyData,
        __module__=command.__module__,
        __doc__=(
            f"The reply to {command.__name__}: `confirmed`{kept} as `confirmation`; `failed` when the target "
            "refused it or `timed_out` when no answer came before the issuer's deadline, with `reason`."
        ),
        confirmation=(typed | None, Field(None, description="The target's confirmation, when confirmed.")),
    )


def _reply_message(command: type[Command], target: str, confirmation: type[BaseModel] | None) -> MessageSpec:
    model = reply_model(command, confirmation)
    return MessageSpec(f"{_command_type(command, target)}.Reply", model, COMMAND_EVENT, summary_of(model), reply=True)


def _command_message(command: type[Command], target: str) -> MessageSpec:
    return MessageSpec(_command_type(command, target), command, COMMAND_EVENT, summary_of(command), command=True)


def command_messages(domain: Domain, spec: DomainSpec) -> None:
    """The target side: every command event the domain accepts arrives on its commands channel; its reply
    (typed by the handler's confirmation) goes back to the issuer's replies channel, named by ``replyto``."""
    if not domain.command_messages:
        return
    address = commands_channel(domain.name)
    spec.channel(address, f"The command events directed to {domain.name}.")
    reply_to = replies_channel("{issuer}")
    spec.channel(
        reply_to,
        "The confirmations of command events go back to the issuing domain's replies channel, "
        "`<issuer>.replies`, named by the command's `replyto` attribute.",
    )
    for name, command in domain.command_messages.items():
        handler = command_handlers_of(domain).get(command)
        confirmation = handler.confirmation_type if handler is not None else None
        reply = Reply(reply_to, (_reply_message(command, domain.name, confirmation),))
        summary = (handler.func.__doc__ or "").strip().split("\n")[0] if handler is not None else ""
        spec.operations.append(
            Operation(
                operation_id(domain.name, "accept", name), "receive", address,
                (_command_message(command, domain.name),), COMMAND_EVENT,
                summary or summary_of(command), reply=reply,
            )
        )  # fmt: skip


def _send(
    domain: Domain,
    spec: DomainSpec,
    id: str,
    command: type[Command],
    target: str,
    confirmation: type[BaseModel] | None,
    summary: str,
    extensions: dict[str, Any] | None = None,
) -> str:
    """A command event sent to ``target``, its reply awaited on this domain's replies channel."""
    address = commands_channel(target)
    spec.channel(address, f"The command events directed to {target}.")
    reply_to = replies_channel(domain.name)
    spec.channel(reply_to, f"The replies to the command events {domain.name} sends.")
    reply = Reply(reply_to, (_reply_message(command, target, confirmation),))
    message = _command_message(command, target)
    spec.operations.append(
        Operation(id, "send", address, (message,), COMMAND_EVENT, summary, target, reply, extensions or {})
    )
    return id


def reply_handlers(domain: Domain, spec: DomainSpec) -> None:
    """The issuer side: every command event whose replies the domain handles (``on_reply``) is sent to its
    target's commands channel, and its reply comes back on this domain's replies channel."""
    for command, handler in reply_handlers_of(domain).items():
        target = command.owner()
        doc = (handler.func.__doc__ or "").strip().split("\n")[0]
        summary = f"sends {command.__name__} to {target}; its reply is handled by {handler.name}" + (
            f" ({doc})" if doc else ""
        )
        _send(
            domain,
            spec,
            operation_id(domain.name, "send", command.message_name()),
            command,
            target,
            handler.confirmation_type,
            summary,
        )


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value is not None else None


def _confirmation(domain: Domain, command: type[Command]) -> type[BaseModel] | None:
    # The issuer knows the confirmation's type only when it also declares a reply handler for the command.
    handler = reply_handlers_of(domain).get(command)
    return handler.confirmation_type if handler is not None else None


def _saga(domain: Domain, spec: DomainSpec, saga: Saga) -> SagaSpec:
    steps = []
    for number, step in enumerate(saga.steps, start=1):
        target = step.target()
        mark = {"saga": saga.name, "step": number, "role": "step"}
        operation = _send(
            domain, spec, operation_id(domain.name, "saga", saga.name, f"step{number}", step.command.message_name()),
            step.command, target,
            _confirmation(domain, step.command),
            f"saga {saga.name}, step {number}: sends {step.command.__name__} to {target}",
            {"x-interlink-saga": mark},
        )  # fmt: skip
        undo: str | None = None
        if step.compensate is not None:
            undo = _send(
                domain, spec,
                operation_id(domain.name, "saga", saga.name, f"compensate{number}", step.compensate.message_name()),
                step.compensate, target, _confirmation(domain, step.compensate),
                f"saga {saga.name}: undoes step {number} with {step.compensate.__name__} to {target}",
                {"x-interlink-saga": mark | {"role": "compensation"}},
            )  # fmt: skip
        steps.append(
            SagaStepSpec(
                _command_type(step.command, target), target, operation,
                _command_type(step.compensate, target) if step.compensate is not None else None, undo,
                _seconds(step.timeout),
            )
        )  # fmt: skip
    on_end = saga.on_end.__name__ if saga.on_end is not None else None
    return SagaSpec(
        saga.name, saga.data_type, tuple(steps), saga.deadline.total_seconds(),
        saga.compensation_timeout.total_seconds(), on_end,
    )  # fmt: skip


def sagas(domain: Domain, spec: DomainSpec) -> None:
    """Every saga the domain runs: each step and each compensation is a command event it sends, its reply
    awaited (the target's confirmation type is not known here: the reply's ``confirmation`` stays open)."""
    spec.sagas.extend(_saga(domain, spec, saga) for saga in sagas_of(domain).values())
