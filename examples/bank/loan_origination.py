"""The loan-request domain's conversations with other domains through command events.

Patterns at work:

- Command events with confirmations: ``SendSms`` to ``customer_communication`` (the SMS to the customer),
  whose ``SmsSent`` confirmation, failure or timeout is recorded here as an ``SmsNotice``.
- Orchestrated saga: the loan origination reserves credit at ``credit_offer`` (``ReserveCredit``,
  compensated by ``ReleaseCredit``), then asks for the offer (``OfferCredit``); a refusal at step 2 releases
  the reservation. Its end decides the loan request and sends the decision by SMS.
- Event capture: ``CreditOfferChanged`` from ``credit_offer`` updates the loan request's ``credit``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ValidationError

from examples.bank.credit_contract import CreditOfferChanged, OfferCredit, ReleaseCredit, ReserveCredit
from examples.bank.customer_communication import SendSms, SmsSent
from examples.bank.loan_request_model import Borrower, Credit, LoanRequest, LoanRequestChanged, SmsNotice, loan_request
from interlink import Context, Reply, Step
from interlink.exceptions import InvalidInput
from interlink.patterns.command_events.sagas import SagaState, SagaStatus

#: How long a loan request waits for an SMS confirmation before recording a timeout; long enough to ride out
#: an outage of the SMS service.
SMS_DEADLINE = timedelta(minutes=10)


class Origination(BaseModel):
    """The loan origination saga's data; each step's command takes the fields of its own names."""

    loan_request_id: str
    customer_id: str
    amount: int
    term_months: int


async def send_sms(ctx: Context, loan: LoanRequest, what: str, text: str) -> None:
    """Send the customer an SMS about ``loan`` (id ``<what>-<loan id>``), waiting for its confirmation."""
    borrower = await ctx.get(Borrower, loan.customer_id)
    if borrower.phone is None:
        return
    command = SendSms(sms_id=f"{what}-{loan.id}", customer_id=loan.customer_id, phone=borrower.phone,
                      text=f"Dear {borrower.name}, {text}")  # fmt: skip
    ctx.send(command, to="customer-communication", deadline=SMS_DEADLINE)


async def save_and_publish(ctx: Context, loan: LoanRequest) -> None:
    """Save the loan request and publish its whole new state."""
    await ctx.save(loan)
    ctx.emit(LoanRequestChanged.of(loan), about=loan)


@loan_request.command
async def origination_ended(ctx: Context, data: SagaState) -> None:
    """Decide the loan request as its saga ended, and tell the customer."""
    try:
        started = Origination.model_validate(data.data)
    except ValidationError as exc:
        # Only the saga runs this command, with the data it started with; anything else is bad input.
        raise InvalidInput(f"saga {data.id}: its data is not an Origination ({exc.error_count()} error(s))") from exc
    loan = await ctx.get(LoanRequest, started.loan_request_id)
    if data.status is SagaStatus.COMPLETED:
        loan.status = "offered"
        text = f"your loan of EUR {loan.amount} ({loan.id}) is offered."
    else:
        loan.status, loan.decline_reason = "declined", data.reason
        text = f"we cannot offer the loan of EUR {loan.amount} you asked for ({loan.id})."
    await save_and_publish(ctx, loan)
    await send_sms(ctx, loan, "decision", text)


origination = loan_request.saga(
    "loan-origination",
    Origination,
    steps=[Step(ReserveCredit, compensate=ReleaseCredit), Step(OfferCredit)],
    deadline=timedelta(minutes=10),
    compensation_timeout=timedelta(minutes=5),
    on_end=origination_ended,
)


class RecordSms(BaseModel):
    """Input of record_sms: how a ``SendSms`` was answered."""

    sms_id: str
    loan_request_id: str
    outcome: str
    reason: str | None = None


@loan_request.command
async def record_sms(ctx: Context, data: RecordSms) -> None:
    """Record the answer to one SMS command."""
    notice = SmsNotice(id=data.sms_id, loan_request_id=data.loan_request_id, outcome=data.outcome, reason=data.reason)
    await ctx.save(notice)


@loan_request.on_reply(SendSms)
async def sms_replied(ctx: Context, reply: Reply[SendSms, SmsSent]) -> None:
    """Confirmed, failed or timed out: recorded once per SMS."""
    loan_id = reply.command.sms_id.split("-", 1)[1]
    await ctx.execute(
        record_sms,
        RecordSms(sms_id=reply.command.sms_id, loan_request_id=loan_id, outcome=reply.outcome.value,
                  reason=reply.reason),
    )  # fmt: skip


class FollowCredit(BaseModel):
    """Input of follow_credit: where an offer stands."""

    loan_request_id: str
    status: Credit


#: The order an offer's status moves in; a status behind the loan request's is an older event.
CREDIT_ORDER: tuple[Credit, ...] = ("none", "reserved", "offered", "released")


@loan_request.command
async def follow_credit(ctx: Context, data: FollowCredit) -> None:
    """Follow the offer's status on the loan request (a redelivered or older status changes nothing)."""
    loan = await ctx.find(LoanRequest, data.loan_request_id)
    if loan is not None and CREDIT_ORDER.index(data.status) > CREDIT_ORDER.index(loan.credit):
        loan.credit = data.status
        await save_and_publish(ctx, loan)


@loan_request.on(CreditOfferChanged)
async def credit_offer_changed(ctx: Context, event: CreditOfferChanged) -> None:
    """Event capture -> update data through a command."""
    await ctx.execute(follow_credit, FollowCredit(loan_request_id=event.loan_request_id, status=event.status))
