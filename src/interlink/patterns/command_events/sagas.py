"""Orchestrated sagas: ordered command events, each with an optional compensating command event.

A saga is declared once on the issuing domain and started from a command::

    origination = loans.saga(
        "loan-origination",
        LoanApplication,
        steps=[
            Step(ReserveCredit, compensate=ReleaseCredit),
            Step(OpenAccount, to="accounts", build=lambda d: OpenAccount(customer=d.customer_id)),
            Step(SendSms, build=lambda d: SendSms(phone=d.phone, text="Your loan is ready")),
        ],
        deadline=timedelta(minutes=5),
    )

    @loans.command
    async def apply(ctx: Context, data: LoanApplication) -> str:
        return await ctx.start_saga(origination, data)

Its state is one ``~saga`` record in the issuer's store, changed only in the transaction that handles a
reply (or a timeout) and stages the next command, so a crash at any point resumes where it was. The
transitions below are pure: they change the state and say which command to send next.

A failure or timeout of step n sends the compensations of steps n-1 .. 1 in reverse order, one at a time.
Every saga ends ``completed``, ``compensated``, or ``failed`` (a compensation failed or timed out: it
needs a person). Forward steps end by the saga's deadline; each compensation has its own timeout. The
optional ``on_end`` command (taking the final :class:`SagaState`) runs in the transaction that ends it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.messages import Command
from interlink.exceptions import ConfigurationError
from interlink.patterns.command_events.declarations import Outcome, ReplyData
from interlink.ports.kinds import ENDED_SAGA_STATES, SAGA_KIND

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = ["SAGA_KIND", "Saga", "SagaEntry", "SagaState", "SagaStatus", "Send", "Step", "advance", "begin", "sagas_of"]


@dataclass(frozen=True)
class Step:
    """One step of a saga: a command event to domain ``to`` (default: the domain that declares it).

    ``build`` makes the command from the saga's data; by default the command takes the data's fields of
    the same names. ``compensate`` (with ``build_compensation``, same default) undoes the step when a later
    one fails. ``timeout`` bounds the wait for this step's reply (default: the saga's deadline).
    """

    command: type[Command]
    to: str | None = None
    compensate: type[Command] | None = None
    build: Callable[[Any], Command] | None = None
    build_compensation: Callable[[Any], Command] | None = None
    timeout: timedelta | None = None

    def target(self) -> str:
        """The domain the step's commands go to."""
        return self.to or self.command.owner()

    def make(self, data: BaseModel) -> Command:
        """The step's command for this saga data."""
        return self.build(data) if self.build else _pick(self.command, data)

    def make_compensation(self, data: BaseModel) -> Command:
        """The compensating command for this saga data."""
        assert self.compensate is not None
        return self.build_compensation(data) if self.build_compensation else _pick(self.compensate, data)


def _pick(cls: type[Command], data: BaseModel) -> Command:
    fields = data.model_dump(mode="json")
    return cls.model_validate({k: v for k, v in fields.items() if k in cls.model_fields})


@dataclass(frozen=True)
class Saga:
    """A declared saga (see the module docstring); start it with ``await ctx.start_saga(saga, data)``."""

    name: str
    domain: str
    data_type: type[BaseModel]
    steps: tuple[Step, ...]
    deadline: timedelta
    compensation_timeout: timedelta
    on_end: Callable[..., Awaitable[Any]] | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise ConfigurationError(f"saga {self.name!r} of domain {self.domain!r} has no steps")
        if self.deadline <= timedelta(0) or self.compensation_timeout <= timedelta(0):
            raise ConfigurationError(f"saga {self.name!r}: deadline and compensation_timeout must be positive")


class SagaStatus(enum.StrEnum):
    """Where a saga is: running and compensating go on; the other three are ends."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"
    #: Ended by an operator (``interlink sagas abandon``): no more steps, no compensations.
    ABANDONED = "abandoned"

    @property
    def ended(self) -> bool:
        """True for completed, compensated, failed (needing attention) and abandoned."""
        return self.value in ENDED_SAGA_STATES


class SagaEntry(BaseModel):
    """One line of a saga's history."""

    at: datetime
    step: int
    what: str
    detail: str | None = None


class SagaState(Aggregate):
    """A saga instance as stored (``~saga`` record): where it is, its data, what it waits for, its history.

    Read and written through its record kind (``records.SAGAS``: schema version, retention); ``ctx.saga(id)``
    gives it to domain code. Its aggregate name is the reserved kind ``~saga``, so ``ctx.save`` and
    ``ctx.delete`` refuse it: only the saga's own transitions (and the operators' actions) change it.
    """

    __aggregate_name__ = SAGA_KIND

    name: str
    status: SagaStatus
    step: int
    data: dict[str, Any]
    correlation_id: str
    started_at: datetime
    deadline: datetime
    awaiting: str | None = None
    reason: str | None = None
    history: list[SagaEntry] = []


@dataclass(frozen=True)
class Send:
    """A command the saga sends next: to whom, with which command id, until when."""

    command: Command
    to: str
    command_id: str
    deadline: datetime


def begin(saga: Saga, id: str, data: BaseModel, correlation_id: str, now: datetime) -> tuple[SagaState, Send]:
    """A new saga's state and its first command."""
    state = SagaState(
        id=id,
        name=saga.name,
        status=SagaStatus.RUNNING,
        step=0,
        data=data.model_dump(mode="json"),
        correlation_id=correlation_id,
        started_at=now,
        deadline=now + saga.deadline,
        history=[SagaEntry(at=now, step=0, what="started")],
    )
    return state, _forward(saga, state, now)


def advance(saga: Saga, state: SagaState, command_id: str, reply: ReplyData, now: datetime) -> Send | None:
    """Take the reply to the command the saga waits for; change ``state`` and return what to send next.

    A reply to any other command (a stale one) changes nothing and returns None.
    """
    if state.status.ended or command_id != state.awaiting:
        return None
    step = state.step
    state.awaiting = None
    if state.status is SagaStatus.RUNNING:
        if reply.outcome is Outcome.CONFIRMED:
            state.history.append(SagaEntry(at=now, step=step, what="step confirmed"))
            if step + 1 < len(saga.steps):
                state.step = step + 1
                return _forward(saga, state, now)
            state.status = SagaStatus.COMPLETED
            state.history.append(SagaEntry(at=now, step=step, what="completed"))
            return None
        state.reason = f"step {step + 1} {_outcome(reply)}"
        state.history.append(SagaEntry(at=now, step=step, what=f"step {reply.outcome.value}", detail=reply.reason))
        state.status = SagaStatus.COMPENSATING
        return _compensate_before(saga, state, step, now)
    if reply.outcome is Outcome.CONFIRMED:
        state.history.append(SagaEntry(at=now, step=step, what="compensation confirmed"))
        return _compensate_before(saga, state, step, now)
    state.status = SagaStatus.FAILED
    state.reason = f"{state.reason}; compensation of step {step + 1} {_outcome(reply)}"
    state.history.append(SagaEntry(at=now, step=step, what=f"compensation {reply.outcome.value}", detail=reply.reason))
    state.history.append(SagaEntry(at=now, step=step, what="failed: needs attention"))
    return None


def _outcome(reply: ReplyData) -> str:
    return f"{reply.outcome.value}" + (f": {reply.reason}" if reply.reason else "")


def _forward(saga: Saga, state: SagaState, now: datetime) -> Send:
    step = saga.steps[state.step]
    deadline = min(state.deadline, now + step.timeout) if step.timeout else state.deadline
    command_id = f"{state.id}-{state.step + 1}-do"
    state.awaiting = command_id
    state.history.append(SagaEntry(at=now, step=state.step, what="step sent", detail=step.command.message_name()))
    return Send(step.make(saga.data_type.model_validate(state.data)), step.target(), command_id, deadline)


def _compensate_before(saga: Saga, state: SagaState, step: int, now: datetime) -> Send | None:
    for index in range(step - 1, -1, -1):
        earlier = saga.steps[index]
        if earlier.compensate is None:
            continue
        state.step = index
        command_id = f"{state.id}-{index + 1}-undo"
        state.awaiting = command_id
        state.history.append(
            SagaEntry(at=now, step=index, what="compensation sent", detail=earlier.compensate.message_name())
        )
        command = earlier.make_compensation(saga.data_type.model_validate(state.data))
        return Send(command, earlier.target(), command_id, now + saga.compensation_timeout)
    state.status = SagaStatus.COMPENSATED
    state.history.append(SagaEntry(at=now, step=step, what="compensated"))
    return None


def sagas_of(domain: Domain) -> dict[str, Saga]:
    """The sagas ``domain`` declares, by name."""
    found: dict[str, Saga] = domain.declarations.setdefault("sagas", {})
    return found
