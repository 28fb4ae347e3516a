"""The customer domain: the bank's registry of customers. It publishes a public event per registration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PublicEvent

customer = Domain("customer", description="Registry of the bank's customers")


@customer.aggregate
class Customer(Aggregate):
    """A customer of the bank."""

    name: str
    email: str
    segment: Literal["retail", "business"] = "retail"


@customer.event
class CustomerRegistered(PublicEvent):
    """A new customer is in the registry."""

    customer_id: str
    name: str
    segment: Literal["retail", "business"]


class RegisterCustomer(BaseModel):
    """Input of the register command."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    segment: Literal["retail", "business"] = "retail"


@customer.command(http="POST /customers")
async def register_customer(ctx: Context, data: RegisterCustomer) -> Customer:
    """Register a customer and tell the other domains."""
    new = Customer(id=data.id, name=data.name, email=data.email, segment=data.segment)
    await ctx.save(new)
    ctx.emit(CustomerRegistered(customer_id=new.id, name=new.name, segment=new.segment), about=new)
    return new


@customer.query(http="GET /customers/{id}")
async def get_customer(ctx: Context, id: str) -> Customer:
    """One customer by id."""
    return await ctx.get(Customer, id)
