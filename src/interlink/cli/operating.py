"""What the operator commands share: who acts (``--actor``), why (``--reason``), JSON output, and the
:class:`~interlink.operations.Operations` facade over a domain's store (and broker)."""

from __future__ import annotations

import getpass
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from interlink.cli.loading import console
from interlink.cli.store_note import say_store
from interlink.core.domain import Domain
from interlink.exceptions import InvalidInput
from interlink.operations import Operations, open_operations

__all__ = ["ActorOption", "JsonOption", "ReasonOption", "default_actor", "operations", "print_json", "required"]


def default_actor() -> str:
    """The OS user running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (a container without /etc/passwd entry)
        return "unknown"


ActorOption = Annotated[str | None, typer.Option("--actor", help="Who acts, for the audit log (default: the OS user).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (required; kept in the audit log).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one document) instead of a table.")]


def required(reason: str | None) -> str:
    """The reason, or InvalidInput when none was given."""
    if reason is None or not reason.strip():
        raise InvalidInput("--reason is required: say why (it is kept in the audit log)")
    return reason


def print_json(items: BaseModel | Sequence[BaseModel] | Any) -> None:
    """Print views (or plain data) as one JSON document on stdout."""
    if isinstance(items, BaseModel):
        data: Any = items.model_dump(mode="json")
    elif isinstance(items, list | tuple):
        data = [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]
    else:
        data = items
    console.print_json(json.dumps(data))


@asynccontextmanager
async def operations(domain: Domain, store_url: str, broker_url: str | None = None) -> AsyncIterator[Operations]:
    """The facade over the domain's store (and broker), said on stderr first: see
    :func:`interlink.operations.open_operations`."""
    async with open_operations(domain, store_url, broker_url) as ops:
        say_store(ops.store)
        yield ops
