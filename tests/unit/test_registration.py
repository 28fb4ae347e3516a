"""One registration style: decorator forms of on_notification, deferred and inbound_file (the call forms with
``command=`` stay), typed ``ctx.execute`` with an input model instance, and queries with scopes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, CsvFormat, Domain
from interlink.core.declarations import QuerySpec
from interlink.exceptions import ConfigurationError
from interlink.testing import Landscape
from tests.support.notifications import CustomerChanged, Rename, customer, rename


class CustomerData(BaseModel):
    """The consumer's words for a customer."""

    id: str
    name: str
    version: int


def _translate(body: dict[str, Any]) -> CustomerData:
    return CustomerData(id=body["id"], name=body["name"], version=body["version"])


def _consumer(name: str, deferred: bool) -> tuple[Domain, type[Aggregate], Any]:
    """A consumer whose notification command is declared by the decorator alone."""
    domain = Domain(name)

    @domain.aggregate
    class Copy(Aggregate):
        """The consumer's copy."""

        name: str

    service = domain.external_service("customer", resource="/customers/{id}", translate=_translate, retries=0)
    verb = domain.deferred if deferred else domain.on_notification

    @verb(CustomerChanged, fetch=service, aggregate=Copy) if deferred else verb(CustomerChanged, fetch=service)
    async def keep(ctx: Context, data: CustomerData) -> None:
        """Create or update the copy."""
        copy = await ctx.find(Copy, data.id) or Copy(id=data.id, name=data.name)
        copy.name = data.name
        await ctx.save(copy)

    @domain.query
    async def name_of(ctx: Context, id: str) -> str:
        """The copy's name, fetched first when a change is pending."""
        return (await ctx.fresh(Copy, id)).name

    return domain, Copy, name_of


async def test_on_notification_as_a_decorator_declares_the_command_and_the_subscription() -> None:
    """@on_notification(...) over a plain function makes it a command and subscribes it: a change arrives."""
    consumer, copy, _ = _consumer("eager-deco", deferred=False)
    assert "keep" in consumer.commands
    assert consumer.notifications["customer.CustomerChanged"].command.name == "keep"
    async with Landscape([customer, consumer]) as land:
        await land.execute(rename, Rename(id="1", name="Ada"))
        await land.settle()
        assert await land.store(consumer).load(copy.aggregate_name(), "1") is not None


async def test_deferred_as_a_decorator_fetches_on_the_first_read() -> None:
    """@deferred(...) over a plain function: the notification only flags, the query's read fetches."""
    consumer, copy, name_of = _consumer("deferred-deco", deferred=True)
    async with Landscape([customer, consumer]) as land:
        await land.execute(rename, Rename(id="2", name="Grace"))
        await land.settle()
        assert await land.store(consumer).load(copy.aggregate_name(), "2") is None
        assert await land.query(name_of, id="2") == "Grace"


class Row(BaseModel):
    """One record of a file."""

    id: str


def test_inbound_file_as_a_decorator_declares_the_command() -> None:
    """@inbound_file(...) over a plain function makes it the command each record runs; the call form remains."""
    domain = Domain("files-deco")

    @domain.inbound_file("rows", directory="incoming", format=CsvFormat(), record=Row)
    async def take_row(ctx: Context, data: Row) -> None:
        """Accept one record."""

    assert domain.inbound_files["rows"].command.name == "take_row"
    assert domain.spec_of(take_row) is domain.commands["take_row"]
    with pytest.raises(ConfigurationError, match="already declares inbound file"):
        domain.inbound_file("rows", directory="incoming", command=take_row)


def test_a_query_takes_scopes_in_its_decorator() -> None:
    """@query(http=..., scopes=[...]) keeps its scopes (and type-checks: the overload has them)."""
    domain = Domain("scoped")

    @domain.query(http="GET /things/{id}", scopes=["things:read"])
    async def get_thing(ctx: Context, id: str) -> str:
        """A thing."""
        return id

    spec = domain.spec_of(get_thing)
    assert isinstance(spec, QuerySpec)
    assert spec.scopes == ("things:read",)


typed = Domain("typed-execute")


@typed.aggregate
class Thing(Aggregate):
    """A thing."""

    label: str


class MakeThing(BaseModel):
    """Input of make_thing."""

    id: str
    label: str


@typed.command
async def make_thing(ctx: Context, data: MakeThing) -> Thing:
    """Make a thing."""
    thing = Thing(id=data.id, label=data.label)
    await ctx.save(thing)
    return thing


class MakeTwo(BaseModel):
    """Input of make_two."""

    prefix: str


@typed.command
async def make_two(ctx: Context, data: MakeTwo) -> list[str]:
    """Make two things, one from a model instance, one from a dict."""
    first = await ctx.execute(make_thing, MakeThing(id=f"{data.prefix}1", label="typed"))
    second = await ctx.execute(make_thing, {"id": f"{data.prefix}2", "label": "mapping"})
    return [first.label, second.label]


async def test_ctx_execute_takes_the_input_model_or_a_mapping() -> None:
    """A command runs another with an instance of its input model, or with a dict validated into it."""
    async with Landscape([typed]) as land:
        assert await land.execute(make_two, MakeTwo(prefix="t")) == ["typed", "mapping"]
