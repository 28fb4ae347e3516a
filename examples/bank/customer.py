"""The customer domain (registry): the bank's customers and their addresses.

Patterns at work:

- API Exposure: register, get, list and change the address of customers over HTTP.
- Inbound File: the branch system drops a nightly ``customers-*.csv``; each record runs ``register_customer``.
- Thin notifications: every change emits ``CustomerChanged`` (what changed and where to read it, no data);
  ``CustomerRegistered`` stays for the domains that open something per new customer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from examples.bank.owners import LICENSE, team
from interlink import Aggregate, Context, Domain, Indexed, NotificationEvent, PublicEvent
from interlink.core.pagination import Page
from interlink.patterns.inbound_file.declarations import CsvFormat

customer = Domain(
    "customer",
    description="Registry of the bank's customers",
    version="1.4.0",
    contact=team("customer"),
    license=LICENSE,
)

#: Where the branch system drops its files, relative to the working directory of the process.
INBOUND_DIRECTORY = ".interlink/incoming/customer"
Segment = Literal["retail", "business"]
Channel = Literal["api", "branch-file"]
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\+[1-9][0-9]{7,14}$"
POSTCODE = r"^[0-9]{4,5}( ?[A-Z]{2})?$"
#: A customer id: the same limits wherever one is taken or given back.
CustomerId = Annotated[
    str, Field(min_length=1, max_length=64, description="The customer's id at the bank.", examples=["C1001"])
]


class Address(BaseModel):
    """A postal address."""

    street: str = Field(min_length=1, max_length=200, description="Street and number.", examples=["Main Street 1"])
    postcode: str = Field(pattern=POSTCODE, description="The postal code.", examples=["1011 AB"])
    city: str = Field(min_length=1, max_length=100, description="The town or city.", examples=["Amsterdam"])


@customer.aggregate
class Customer(Aggregate):
    """A customer of the bank; ``channel`` says how the registration came in."""

    id: CustomerId
    name: str = Field(max_length=200, description="The customer's full name.", examples=["Ann Smith"])
    email: str = Field(description="Where the bank writes to the customer.", examples=["ann@example.com"])
    segment: Annotated[Segment, Indexed()] = Field("retail", description="Retail (a person) or business.")
    phone: str | None = Field(None, description="Mobile number in E.164 form, for SMS.", examples=["+31612345678"])
    address: Address | None = Field(None, description="The postal address, once known.")
    channel: Annotated[Channel, Indexed()] = Field(
        "api", description="How the registration came in: the API or the branch file."
    )


@customer.event
class CustomerRegistered(PublicEvent):
    """A new customer is in the registry."""

    customer_id: CustomerId
    name: str = Field(description="The customer's full name.", examples=["Ann Smith"])
    segment: Segment = Field(description="Retail (a person) or business.", examples=["retail"])


@customer.event
class CustomerChanged(NotificationEvent):
    """A thin notification: customer ``id`` was registered or changed; read it at ``path`` (``version`` or later)."""


class RegisterCustomer(BaseModel):
    """Input of the register command."""

    id: CustomerId
    name: str = Field(min_length=1, max_length=200, description="The customer's full name.", examples=["Ann Smith"])
    email: str = Field(pattern=EMAIL, description="Where the bank writes to them.", examples=["ann@example.com"])
    segment: Segment = Field("retail", description="Retail (a person) or business.")
    phone: str | None = Field(None, pattern=PHONE, description="Mobile number in E.164 form, for SMS.")
    address: Address | None = Field(None, description="The postal address, if known.")
    channel: Channel = Field("api", description="How the registration came in: the API or the branch file.")


class ChangeAddress(Address):
    """Input of the change-address command."""

    id: CustomerId


def _changed(ctx: Context, current: Customer) -> None:
    ctx.emit(CustomerChanged.of(current, path=f"/customers/{current.id}"), about=current)


@customer.command(http="POST /customers")
async def register_customer(ctx: Context, data: RegisterCustomer) -> Customer:
    """Register a customer and tell the other domains."""
    new = Customer(**data.model_dump())
    await ctx.save(new)
    ctx.emit(CustomerRegistered(customer_id=new.id, name=new.name, segment=new.segment), about=new)
    _changed(ctx, new)
    return new


@customer.command(http="PUT /customers/{id}/address")
async def change_address(ctx: Context, data: ChangeAddress) -> Customer:
    """Move a customer to a new address."""
    current = await ctx.get(Customer, data.id)
    current.address = Address(street=data.street, postcode=data.postcode, city=data.city)
    await ctx.save(current)
    _changed(ctx, current)
    return current


@customer.query(http="GET /customers/{id}")
async def get_customer(ctx: Context, id: str) -> Customer:
    """One customer by id."""
    return await ctx.get(Customer, id)


@customer.query(http="GET /customers")
async def list_customers(
    ctx: Context,
    segment: Segment | None = None,
    channel: Channel | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Page[Customer]:
    """A page of customers in id order, optionally of one segment or registration channel."""
    return await ctx.list(Customer, where={"segment": segment, "channel": channel}, cursor=cursor, limit=limit)


class BranchCustomerRow(BaseModel):
    """One record of the branch system's customer file."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL)
    segment: Segment = "retail"
    phone: str | None = Field(None, pattern=PHONE)
    street: str = Field(min_length=1)
    postcode: str = Field(pattern=POSTCODE)
    city: str = Field(min_length=1)


def _from_branch(row: BranchCustomerRow) -> RegisterCustomer:
    address = Address(street=row.street, postcode=row.postcode, city=row.city)
    return RegisterCustomer(
        id=row.id,
        name=row.name,
        email=row.email,
        segment=row.segment,
        phone=row.phone,
        address=address,
        channel="branch-file",
    )


#: The branch system's header row, as it writes it.
BRANCH_COLUMNS = ("Customer No", "Name", "E-mail", "Segment", "Mobile", "Street", "Postcode", "City")

branch_customers = customer.inbound_file(
    "branch-customers",
    directory=INBOUND_DIRECTORY,
    pattern="customers-*.csv",
    format=CsvFormat(
        delimiter=";",
        columns=dict(zip(BRANCH_COLUMNS, BranchCustomerRow.model_fields, strict=True)),
        strip=True,
    ),
    record=BranchCustomerRow,
    to_input=_from_branch,
    command=register_customer,
    settle_seconds=1.0,
)
