"""Root entities (aggregates): the data a domain owns."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Aggregate"]


class Aggregate(BaseModel):
    """A root entity: a pydantic model with an ``id`` and a ``version``.

    ``version`` is 0 for an aggregate never saved; each save through a command raises it by one, and a
    save whose version is behind the stored one raises :class:`~interlink.exceptions.ConcurrencyError`.
    Commands create and change aggregates; queries only read them.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    __aggregate_name__: ClassVar[str | None] = None

    id: str = Field(min_length=1, max_length=200, description="The aggregate's id, unique within its type.")
    version: int = Field(default=0, ge=0, description="Changes made to it so far: its ETag and its events' version.")

    @classmethod
    def aggregate_name(cls) -> str:
        """The name the store files this aggregate type under (the class name unless overridden)."""
        return cls.__dict__.get("__aggregate_name__") or cls.__name__
