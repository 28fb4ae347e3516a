"""The two-domain landscapes the end-to-end benchmark drives.

``minimal``: the benchmark's own pair, the shortest path that still crosses every guarantee. The
producer's command saves a new Order and emits the public OrderPlaced about it; the consumer's handler
runs a command that saves a new Shipment. No reads in the handler.

``bank``: the reference landscape of ``examples/bank``, unchanged: ``register_customer`` saves a Customer
and emits CustomerRegistered; the loan-request handler runs ``open_credit_file``, which first looks the
credit file up (one store read per event) and then saves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent

__all__ = ["LANDSCAPES", "Landscape"]

producer = Domain("bench-producer", description="Places orders (benchmark)")
consumer = Domain("bench-consumer", description="Opens a shipment per order (benchmark)")


@producer.aggregate
class Order(Aggregate):
    """An order."""

    customer: str
    amount: int


@producer.event
class OrderPlaced(PublicEvent):
    """A new order exists."""

    order_id: str
    customer: str
    amount: int


class PlaceOrder(BaseModel):
    """Input of place_order."""

    id: str
    customer: str
    amount: int


@producer.command
async def place_order(ctx: Context, data: PlaceOrder) -> Order:
    """Save a new order and tell the other domains."""
    order = Order(id=data.id, customer=data.customer, amount=data.amount)
    await ctx.save(order)
    ctx.emit(OrderPlaced(order_id=order.id, customer=order.customer, amount=order.amount), about=order)
    return order


@consumer.aggregate
class Shipment(Aggregate):
    """The consumer's own record of an order."""

    order_id: str
    customer: str


class OpenShipment(BaseModel):
    """Input of open_shipment."""

    order_id: str
    customer: str


@consumer.command
async def open_shipment(ctx: Context, data: OpenShipment) -> Shipment:
    """Save a new shipment (the inbox already makes a redelivered event a no-op)."""
    shipment = Shipment(id=data.order_id, order_id=data.order_id, customer=data.customer)
    await ctx.save(shipment)
    return shipment


@consumer.on(OrderPlaced)
async def order_placed(ctx: Context, event: OrderPlaced) -> None:
    """Event capture -> a command of this domain."""
    await ctx.execute(open_shipment, {"order_id": event.order_id, "customer": event.customer})


@dataclass(frozen=True)
class Landscape:
    """What the benchmark needs to know of a producer/consumer pair."""

    producer: Domain
    consumer: Domain
    command: Callable[..., Awaitable[Any]]
    produced: type[Aggregate]
    effect: type[Aggregate]
    input: Callable[[int], dict[str, Any]]  # the command's input for the i-th event
    describe: str


def _minimal() -> Landscape:
    return Landscape(
        producer,
        consumer,
        place_order,
        Order,
        Shipment,
        lambda i: {"id": f"O{i:06d}", "customer": f"C{i % 997:04d}", "amount": i % 10_000},
        "handler saves",
    )


def _bank() -> Landscape:
    from examples.bank.customer import Customer, customer, register_customer
    from examples.bank.loan_request import CreditFile, loan_request

    return Landscape(
        customer,
        loan_request,
        register_customer,
        Customer,
        CreditFile,
        lambda i: {"id": f"C{i:06d}", "name": f"Customer {i}", "email": f"c{i}@example.org"},
        "handler reads once, then saves",
    )


LANDSCAPES: dict[str, Callable[[], Landscape]] = {
    "minimal": _minimal,
    "bank": _bank,
}
