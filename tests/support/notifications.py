"""Domains for the State Change Notification tests: a customer source and three consumers.

``customer`` owns ``Customer`` and emits the thin ``CustomerChanged`` notification; its API serves
``GET /customers/{id}`` with the customer's version. ``loans`` keeps an eager copy (``on_notification``);
``pricing`` a deferred one that serves stale copies when the source is down; ``scoring`` a deferred one
that fails instead. Each consumer translates the customer's payload into its own ``CustomerData``.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from interlink import Aggregate, Context, Domain
from interlink.core.clock import SystemClock
from interlink.core.context import Role
from interlink.core.external import ExternalService
from interlink.core.messages import NotificationEvent
from interlink.core.retry import RetryPolicy
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.patterns.notification.declarations import SourceDown
from interlink.ports.broker import OutgoingMessage

customer = Domain("customer")


@customer.aggregate
class Customer(Aggregate):
    """The source's customer."""

    name: str


@customer.event
class CustomerChanged(NotificationEvent):
    """A customer was created or changed (thin: no state, only where to read it)."""


class Rename(BaseModel):
    """Input of rename."""

    id: str
    name: str


@customer.command
async def rename(ctx: Context, data: Rename) -> Customer:
    """Create or rename a customer and notify the change."""
    found = await ctx.find(Customer, data.id) or Customer(id=data.id, name=data.name)
    found.name = data.name
    await ctx.save(found)
    ctx.emit(CustomerChanged.of(found, path=f"/customers/{found.id}"), about=found)
    return found


@customer.query(http="GET /customers/{id}")
async def customer_by_id(ctx: Context, id: str) -> Customer:
    """The customer as the API serves it (``version`` included)."""
    return await ctx.get(Customer, id)


def payload(id: str, name: str, version: int) -> dict[str, Any]:
    """What the customer API answers for a customer."""
    return {"id": id, "name": name, "version": version}


class CustomerData(BaseModel):
    """A consumer's own view of a customer."""

    id: str
    name: str
    version: int


class Forget(BaseModel):
    """Input of a gone command: the notification's id."""

    id: str


def translate(body: dict[str, Any]) -> CustomerData:
    """The anti-corruption layer: the source's payload in the consumer's words."""
    return CustomerData(id=body["id"], name=body["name"], version=body["version"])


@dataclass(frozen=True)
class Consumer:
    """A consumer domain and what the tests reach in it."""

    domain: Domain
    copy: type[Aggregate]
    service: ExternalService[CustomerData]
    customer_name: Callable[..., Awaitable[str]]


def consumer(name: str, how: str, when_source_down: SourceDown = "stale", retry: RetryPolicy | None = None) -> Consumer:
    """A consumer domain keeping ``CustomerCopy`` through ``keep`` and removing it through ``forget``;
    ``how`` is ``eager`` (on_notification) or ``deferred``; ``retry`` is the subscription's own policy."""
    domain = Domain(name)

    # No `from __future__ import annotations` in this module: these local classes are read from the
    # functions' annotations by the declarations, so the annotations must be objects, not strings.
    @domain.aggregate
    class CustomerCopy(Aggregate):
        """The consumer's copy of a customer, with the source version it reflects."""

        name: str
        source_version: int = 0

    service = domain.external_service("customer", resource="/customers/{id}", translate=translate, retries=0)

    @domain.command
    async def keep(ctx: Context, data: CustomerData) -> CustomerCopy:
        """Create or update the copy from the fetched data."""
        copy = await ctx.find(CustomerCopy, data.id) or CustomerCopy(id=data.id, name=data.name)
        copy.name, copy.source_version = data.name, data.version
        await ctx.save(copy)
        return copy

    @domain.command
    async def forget(ctx: Context, data: Forget) -> None:
        """The source says the customer is gone: drop the copy."""
        copy = await ctx.find(CustomerCopy, data.id)
        if copy is not None:
            await ctx.delete(copy)

    @domain.query
    async def customer_name(ctx: Context, id: str) -> str:
        """The customer's name, read through any pending update; marked when stale."""
        copy = await ctx.fresh(CustomerCopy, id)
        return f"{copy.name} (stale)" if ctx.stale else copy.name

    if how == "eager":
        domain.on_notification(CustomerChanged, fetch=service, command=keep, gone=forget, retry=retry)
    else:
        domain.deferred(
            CustomerChanged, fetch=service, command=keep, gone=forget, when_source_down=when_source_down, retry=retry
        )
    return Consumer(domain, CustomerCopy, service, customer_name)


loans = consumer("loans", "eager")
pricing = consumer("pricing", "deferred", "stale")
scoring = consumer("scoring", "deferred", "fail")


def notification(id: str, version: int) -> OutgoingMessage:
    """The outbox message ``customer`` emits for version ``version`` of customer ``id`` (a fresh message id)."""
    uow = UnitOfWork(customer, _NoStore(), SystemClock())  # type: ignore[arg-type]
    ctx = Context(customer, uow, Role.COMMAND, name="rename", clock=SystemClock(), correlation_id=f"c-{id}")
    about = Customer(id=id, name="?", version=version)
    ctx.emit(CustomerChanged.of(about, path=f"/customers/{id}"), about=about)
    (message,) = uow.changes().outbox
    return message


class _NoStore:
    """Staging an event reads nothing."""


# For the command line (``interlink advise tests.support.notifications:pricing_domain``).
loans_domain, pricing_domain, scoring_domain = loans.domain, pricing.domain, scoring.domain
