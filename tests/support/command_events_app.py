"""A small landscape for command events and sagas: ``lending`` issues, ``partner`` runs, ``silent`` never answers.

``partner`` counts on an ``Sms`` how often each SMS command ran, and writes every saga step and
compensation it runs, in order, on the saga reference's ``Journal``. ``lending`` records each reply it
gets on a ``Notice``. ``silent`` is declared but never run, so what is sent to it times out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel

from interlink import Aggregate, Command, CommandRejected, Context, Domain, Reply, Step
from interlink.patterns.command_events.sagas import SagaState

lending = Domain("lending")
partner = Domain("partner")
silent = Domain("silent")


# -- partner: the target ------------------------------------------------------------------------------


class SendSms(Command):
    """Send one SMS; ``refuse`` makes the partner reject it for a business reason."""

    sms_id: str
    text: str
    refuse: bool = False


class SmsSent(BaseModel):
    """Confirmation of SendSms: how many times the partner ran it (1 when exactly once)."""

    sms_id: str
    runs: int


@partner.aggregate
class Sms(Aggregate):
    """An SMS the partner sent, and how many times its command ran."""

    runs: int = 0


@partner.handles(SendSms)
async def send_sms(ctx: Context, command: SendSms) -> SmsSent:
    """Count the run and confirm; refuse when asked to."""
    sms = await ctx.find(Sms, command.sms_id) or Sms(id=command.sms_id)
    sms.runs += 1
    await ctx.save(sms)
    if command.refuse:
        raise CommandRejected(f"sms {command.sms_id} refused: number barred")
    return SmsSent(sms_id=sms.id, runs=sms.runs)


@partner.aggregate
class Journal(Aggregate):
    """Every saga step and compensation the partner ran for one reference, in order."""

    entries: list[str] = []


class StepCommand(Command):
    """Base of the saga's step commands: a reference and how the step should behave."""

    ref: str
    mode: str = "ok"


class ReserveCredit(StepCommand):
    """Step 1."""


class ReleaseCredit(StepCommand):
    """Compensation of step 1; fails when the mode is 'release-fails'."""


class OpenAccount(StepCommand):
    """Step 2."""


class CloseAccount(StepCommand):
    """Compensation of step 2."""


class Disburse(StepCommand):
    """Step 3; fails when the mode is 'fail'."""


class Done(BaseModel):
    """Confirmation of a saga step."""

    entry: str


async def _journal(ctx: Context, ref: str, entry: str) -> Done:
    journal = await ctx.find(Journal, ref) or Journal(id=ref)
    journal.entries.append(entry)
    await ctx.save(journal)
    return Done(entry=entry)


@partner.handles(ReserveCredit)
async def reserve_credit(ctx: Context, command: ReserveCredit) -> Done:
    """Step 1 runs."""
    return await _journal(ctx, command.ref, "reserve")


@partner.handles(ReleaseCredit)
async def release_credit(ctx: Context, command: ReleaseCredit) -> Done:
    """Compensation of step 1 runs, or fails."""
    if command.mode == "release-fails":
        raise CommandRejected("credit already paid out")
    return await _journal(ctx, command.ref, "release")


@partner.handles(OpenAccount)
async def open_account(ctx: Context, command: OpenAccount) -> Done:
    """Step 2 runs."""
    return await _journal(ctx, command.ref, "open")


@partner.handles(CloseAccount)
async def close_account(ctx: Context, command: CloseAccount) -> Done:
    """Compensation of step 2 runs."""
    return await _journal(ctx, command.ref, "close")


@partner.handles(Disburse)
async def disburse(ctx: Context, command: Disburse) -> Done:
    """Step 3 runs, or fails."""
    if command.mode in ("fail", "release-fails"):
        raise CommandRejected("disbursement refused")
    return await _journal(ctx, command.ref, "disburse")


# -- silent: declared, never run ---------------------------------------------------------------------


@silent.command_message
class Ping(Command):
    """A command nobody answers."""

    ping_id: str


@silent.command_message
class Hang(StepCommand):
    """A saga step nobody answers."""


# -- lending: the issuer ----------------------------------------------------------------------------


@lending.aggregate
class Notice(Aggregate):
    """The reply lending got to one request, and how many replies were applied (1 when exactly once)."""

    outcome: str = ""
    reason: str | None = None
    confirmed_runs: int | None = None
    replies: int = 0


class Notify(BaseModel):
    """Input of notify."""

    sms_id: str
    refuse: bool = False
    deadline_seconds: float | None = None


@lending.command
async def notify(ctx: Context, data: Notify) -> None:
    """Ask the partner to send an SMS."""
    deadline = timedelta(seconds=data.deadline_seconds) if data.deadline_seconds else None
    ctx.send(SendSms(sms_id=data.sms_id, text="hello", refuse=data.refuse), to="partner", deadline=deadline)


class SendPing(BaseModel):
    """Input of ping."""

    ping_id: str
    deadline_seconds: float = 0.5


@lending.command
async def ping(ctx: Context, data: SendPing) -> None:
    """Send a Ping to the silent domain, with a deadline."""
    ctx.send(Ping(ping_id=data.ping_id), to="silent", deadline=timedelta(seconds=data.deadline_seconds))


class RecordReply(BaseModel):
    """Input of record_reply."""

    id: str
    outcome: str
    reason: str | None = None
    confirmed_runs: int | None = None


@lending.command
async def record_reply(ctx: Context, data: RecordReply) -> None:
    """Record a reply on its notice."""
    notice = await ctx.find(Notice, data.id) or Notice(id=data.id)
    notice.outcome, notice.reason, notice.confirmed_runs = data.outcome, data.reason, data.confirmed_runs
    notice.replies += 1
    await ctx.save(notice)


@lending.on_reply(SendSms)
async def sms_replied(ctx: Context, reply: Reply[SendSms, SmsSent]) -> None:
    """Record the SMS reply."""
    runs = reply.confirmation.runs if reply.confirmation else None
    await ctx.execute(
        record_reply,
        RecordReply(id=reply.command.sms_id, outcome=reply.outcome.value, reason=reply.reason, confirmed_runs=runs),
    )


@lending.on_reply(Ping)
async def ping_replied(ctx: Context, reply: Reply[Ping, BaseModel]) -> None:
    """Record the ping's (timed-out) reply."""
    await ctx.execute(record_reply, RecordReply(id=reply.command.ping_id, outcome=reply.outcome.value))


class Origination(BaseModel):
    """The data of a loan-origination saga."""

    ref: str
    mode: Literal["ok", "fail", "release-fails"] = "ok"


@lending.command
async def origination_ended(ctx: Context, data: SagaState) -> None:
    """Record how a loan-origination saga ended on a notice named after its reference."""
    notice = await ctx.find(Notice, f"saga-{data.data['ref']}") or Notice(id=f"saga-{data.data['ref']}")
    notice.outcome, notice.reason = data.status.value, data.reason
    notice.replies += 1
    await ctx.save(notice)


origination = lending.saga(
    "loan-origination",
    Origination,
    steps=[
        Step(ReserveCredit, compensate=ReleaseCredit),
        Step(OpenAccount, compensate=CloseAccount),
        Step(Disburse),
    ],
    deadline=timedelta(seconds=60),
    compensation_timeout=timedelta(seconds=30),
    on_end=origination_ended,
)

origination_to_silence = lending.saga(
    "loan-origination-silent",
    Origination,
    steps=[
        Step(ReserveCredit, compensate=ReleaseCredit),
        Step(OpenAccount, compensate=CloseAccount),
        Step(Hang, build=lambda d: Hang(ref=d.ref), timeout=timedelta(seconds=1)),
    ],
    deadline=timedelta(seconds=60),
    compensation_timeout=timedelta(seconds=30),
)


class StartOrigination(BaseModel):
    """Input of originate: the saga's data and whether its third step goes to the silent domain."""

    ref: str
    mode: Literal["ok", "fail", "release-fails"] = "ok"
    silent: bool = False


@lending.command
async def originate(ctx: Context, data: StartOrigination) -> str:
    """Start a loan-origination saga; returns its id."""
    saga = origination_to_silence if data.silent else origination
    return await ctx.start_saga(saga, Origination(ref=data.ref, mode=data.mode))


class StartMany(BaseModel):
    """Input of originate_many: ``n`` sagas ``R00000``..; every ``fail_every``-th one fails at step 3."""

    n: int
    fail_every: int = 3


@lending.command
async def originate_many(ctx: Context, data: StartMany) -> list[str]:
    """Start ``n`` loan-origination sagas in one transaction (all of them, or none after a crash)."""
    ids = []
    for i in range(data.n):
        mode: Literal["ok", "fail"] = "fail" if i % data.fail_every == 0 else "ok"
        ids.append(await ctx.start_saga(origination, Origination(ref=f"R{i:05d}", mode=mode)))
    return ids
