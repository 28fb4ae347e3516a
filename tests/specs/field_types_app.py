"""A domain whose messages use every common kind of field, so the parser test covers their schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from interlink import Domain, PublicEvent
from interlink.core.messages import Command

rich = Domain("rich", description="Messages with every common kind of field")


class Colour(Enum):
    """A colour."""

    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    """A nested model."""

    street: str
    city: str | None = None


@rich.event
class Everything(PublicEvent):
    """All kinds of fields."""

    when: datetime
    day: date
    amount: Decimal = Field(max_digits=10, decimal_places=2)
    pair: tuple[int, str]
    tags: list[str] = []
    attrs: dict[str, int] = {}
    colour: Colour
    kind: Literal["a", "b"] = "a"
    ident: UUID
    address: Address
    addresses: list[Address] = []
    maybe: Address | None = None
    fixed: Literal["x"] = "x"


@rich.command_message
class DoIt(Command):
    """A command."""

    target: Address
