"""A small landscape with every kind of declaration the specifications know, for the spec and diagram tests.

``registry`` serves its customers over HTTP, takes them from CSV files and tells the others when one
changes (thin notifications); ``lending`` is notified and reads the customer back through the registry's
API, publishes its loans' state (fat events), sends ``SendSms`` command events to ``messaging`` and runs a
saga booking a loan with ``ledger``; ``ledger`` keeps a replica of the loans from the events themselves,
handles the booking commands and takes a fixed-width extract; ``messaging`` handles ``SendSms``, replying
``SmsSent``, and reacts to ``LoanApproved`` with a plain handler.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PrivateEvent, PublicEvent, Reply, Step
from interlink.core.messages import Command, NotificationEvent
from interlink.patterns.inbound_file.declarations import FixedField, FixedWidthFormat
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent

registry = Domain("registry", description="Customers of the bank")
lending = Domain("lending", description="Loans to customers")
ledger = Domain("ledger", description="Bookings of loans and repayments")
messaging = Domain("messaging", description="Messages to customers")


@registry.aggregate
class Customer(Aggregate):
    """A customer."""

    name: str
    city: str = ""


@registry.event
class CustomerChanged(NotificationEvent):
    """A customer changed: fetch it back for the details."""


class CustomerRow(BaseModel):
    """A customer, from the registry's API or a branch file."""

    id: str = Field(min_length=1)
    name: str
    city: str = ""


@registry.command(http="PUT /customers/{id}")
async def save_customer(ctx: Context, data: CustomerRow) -> Customer:
    """Create or change a customer."""
    saved = Customer(id=data.id, name=data.name, city=data.city)
    await ctx.save(saved)
    ctx.emit(CustomerChanged.of(saved, path=f"/customers/{saved.id}"), about=saved)
    return saved


@registry.query(http="GET /customers/{id}")
async def get_customer(ctx: Context, id: str) -> Customer:
    """One customer."""
    return await ctx.get(Customer, id)


registry.inbound_file("branch-customers", directory="incoming", pattern="customers-*.csv", command=save_customer)


class Borrower(BaseModel):
    """A customer as lending sees one."""

    customer_id: str
    name: str


def to_borrower(payload: Any) -> Borrower:
    """The registry's customer in lending's words."""
    return Borrower(customer_id=payload["id"], name=payload["name"])


customers = lending.external_service("registry", resource="/customers/{id}", translate=to_borrower)


@lending.aggregate
class Loan(Aggregate):
    """A loan."""

    customer_id: str
    amount: Decimal
    status: Literal["open", "closed"] = "open"


@lending.event
class LoanChanged(StateTransferEvent):
    """A loan with all its data, so subscribers never call back."""

    customer_id: str
    amount: Decimal
    status: Literal["open", "closed"]


@lending.event
class LoanApproved(PublicEvent):
    """A loan was approved."""

    loan_id: str


@lending.event
class BorrowerRefreshed(PrivateEvent):
    """Lending read a customer back (private)."""

    customer_id: str


@lending.command
async def note_customer(ctx: Context, data: Borrower) -> None:
    """Remember the customer read back from the registry."""
    ctx.emit(BorrowerRefreshed(customer_id=data.customer_id))


lending.on_notification(CustomerChanged, fetch=customers, command=note_customer)


@ledger.aggregate
class Booking(Aggregate):
    """A loan's or a repayment's booking."""

    amount: Decimal


@ledger.command_message
class BookLoan(Command):
    """Book a loan: confirmed with its booking."""

    loan_id: str
    amount: Decimal


@ledger.command_message
class CancelBooking(Command):
    """Undo a loan's booking."""

    loan_id: str


class Booked(BaseModel):
    """Confirmation of BookLoan."""

    booking_id: str


@ledger.handles(BookLoan)
async def book_loan(ctx: Context, command: BookLoan) -> Booked:
    """Book a loan."""
    await ctx.save(Booking(id=command.loan_id, amount=command.amount))
    return Booked(booking_id=command.loan_id)


@ledger.handles(CancelBooking)
async def cancel_booking(ctx: Context, command: CancelBooking) -> Booked:
    """Remove a loan's booking."""
    await ctx.delete(await ctx.get(Booking, command.loan_id))
    return Booked(booking_id=command.loan_id)


class LoanView(Replica):
    """What ledger keeps of a loan."""

    amount: Decimal
    status: str


ledger.replica(LoanChanged, model=LoanView)


class Repayment(BaseModel):
    """A record of the mainframe's repayment extract."""

    loan_id: str
    amount: Decimal


@ledger.command
async def book_repayment(ctx: Context, data: Repayment) -> None:
    """Book a repayment."""
    await ctx.save(Booking(id=f"R-{data.loan_id}", amount=-data.amount))


ledger.inbound_file(
    "repayments",
    directory="incoming/repayments",
    pattern="REPAY.*.DAT",
    format=FixedWidthFormat(
        fields=(
            FixedField(name="loan_id", start=1, length=10),
            FixedField(name="amount", start=11, length=9, type="decimal", scale=2),
        )
    ),
    command=book_repayment,
)


@messaging.command_message
class SendSms(Command):
    """Send a text message to a customer; confirmed once sent."""

    customer_id: str
    text: str = Field(max_length=160)


class SmsSent(BaseModel):
    """Confirmation of SendSms."""

    message_id: str


@messaging.handles(SendSms)
async def send_sms(ctx: Context, command: SendSms) -> SmsSent:
    """Send the text."""
    return SmsSent(message_id=f"sms-{command.customer_id}")


@messaging.aggregate
class Congratulation(Aggregate):
    """A loan whose customer was congratulated."""


@messaging.command
async def congratulate(ctx: Context, data: LoanApproved) -> None:
    """Note the approved loan."""
    await ctx.save(Congratulation(id=data.loan_id))


@messaging.on(LoanApproved)
async def loan_approved(ctx: Context, event: LoanApproved) -> None:
    """A plain handler: the declaration does not say which pattern this is."""
    await ctx.execute(congratulate, event)


# -- lending issues command events to messaging and ledger ----------------------------------------------


@lending.command
async def record_sms(ctx: Context, data: SmsSent) -> None:
    """Remember a sent SMS."""


@lending.on_reply(SendSms)
async def sms_replied(ctx: Context, reply: Reply[SendSms, SmsSent]) -> None:
    """Record the SMS once messaging confirms it."""
    if reply.confirmation is not None:
        await ctx.execute(record_sms, reply.confirmation)


class LoanBookingData(BaseModel):
    """The data of a loan-booking saga."""

    loan_id: str
    customer_id: str
    amount: Decimal
    text: str = "Your loan is booked"


loan_booking = lending.saga(
    "loan-booking",
    LoanBookingData,
    steps=[Step(BookLoan, compensate=CancelBooking), Step(SendSms, timeout=timedelta(seconds=30))],
    deadline=timedelta(minutes=5),
)
