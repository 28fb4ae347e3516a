"""A small landscape with every kind of declaration the specifications know, for the spec and diagram tests.

``registry`` serves its customers over HTTP, takes them from CSV files and tells the others when one
changes; ``lending`` is notified and reads the customer back through the registry's API; ``ledger`` keeps
loans from the events themselves and takes a fixed-width extract; ``messaging`` accepts a command event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PrivateEvent, PublicEvent
from interlink.core.inbound import FixedField, FixedWidthFormat
from interlink.core.messages import Command

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
class CustomerChanged(PublicEvent):
    """A customer changed: fetch it back for the details."""

    customer_id: str


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
    ctx.emit(CustomerChanged(customer_id=saved.id), about=saved)
    return saved


@registry.query(http="GET /customers/{id}")
async def get_customer(ctx: Context, id: str) -> Customer:
    """One customer."""
    return await ctx.get(Customer, id)


registry.inbound_file("branch-customers", directory="incoming", pattern="customers-*.csv", command=save_customer)


class Borrower(BaseModel):
    """A customer as lending sees one."""

    name: str


def to_borrower(payload: Any) -> Borrower:
    """The registry's customer in lending's words."""
    return Borrower(name=payload["name"])


customers = lending.external_service("registry", resource="/customers/{id}", translate=to_borrower)


@lending.aggregate
class Loan(Aggregate):
    """A loan."""

    customer_id: str
    amount: Decimal
    status: Literal["open", "closed"] = "open"


@lending.event
class LoanChanged(PublicEvent):
    """A loan with all its data, so subscribers never call back."""

    loan_id: str
    customer_id: str
    amount: Decimal
    status: Literal["open", "closed"]


@lending.event
class BorrowerRefreshed(PrivateEvent):
    """Lending read a customer back (private)."""

    customer_id: str


class NoteCustomer(BaseModel):
    """Input of note_customer."""

    customer_id: str


@lending.command
async def note_customer(ctx: Context, data: NoteCustomer) -> None:
    """Read the customer back and remember it."""
    await ctx.fetch(customers, id=data.customer_id)
    ctx.emit(BorrowerRefreshed(customer_id=data.customer_id))


@lending.on(CustomerChanged)
async def customer_changed(ctx: Context, event: CustomerChanged) -> None:
    """Notification: read the changed customer back."""
    await ctx.execute(note_customer, {"customer_id": event.customer_id})


@ledger.aggregate
class Booking(Aggregate):
    """A loan's or a repayment's booking."""

    amount: Decimal


class LoanBooking(BaseModel):
    """Input of book_loan."""

    loan_id: str
    amount: Decimal


@ledger.command
async def book_loan(ctx: Context, data: LoanBooking) -> None:
    """Book a loan."""
    await ctx.save(Booking(id=data.loan_id, amount=data.amount))


@ledger.on(LoanChanged)
async def loan_changed(ctx: Context, event: LoanChanged) -> None:
    """State transfer: the event carries everything."""
    await ctx.execute(book_loan, {"loan_id": event.loan_id, "amount": event.amount})


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
