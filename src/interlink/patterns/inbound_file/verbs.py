"""The verb of pattern 2 on :class:`~interlink.core.domain.Domain`: Inbound File (see
:mod:`interlink.patterns.inbound_file.declarations`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel

from interlink.core.declarations import AsyncFn, CommandSpec
from interlink.core.domain import Domain
from interlink.core.messages import Event
from interlink.exceptions import ConfigurationError
from interlink.patterns.inbound_file.declarations import (
    FileFormat,
    FileIngested,
    FileLimits,
    InboundFileSpec,
    RejectLimit,
    file_ingested_event,
    inbound_file_spec,
    inbound_files_of,
)

__all__ = ["InboundFileVerbs"]

F = TypeVar("F", bound=AsyncFn)
M = TypeVar("M", bound=type[Event])


class InboundFileVerbs(Domain):
    """Mixin of Domain: ``inbound_file``."""

    @property
    def inbound_files(self) -> dict[str, InboundFileSpec]:
        """The inbound file sources declared here, by name."""
        return inbound_files_of(self)

    @overload
    def inbound_file(
        self,
        name: str,
        *,
        directory: str | PurePath,
        command: Callable[..., Any],
        pattern: str = "*",
        format: FileFormat | None = None,
        record: type[BaseModel] | None = None,
        to_input: Callable[[Any], Any] | None = None,
        compression: Literal["auto", "gzip", "none"] = "auto",
        batch_size: int = 500,
        settle_seconds: float = 2.0,
        done_marker: bool = False,
        limits: FileLimits | None = None,
        rejects: RejectLimit | None = None,
    ) -> InboundFileSpec: ...
    @overload
    def inbound_file(
        self,
        name: str,
        *,
        directory: str | PurePath,
        command: None = None,
        pattern: str = "*",
        format: FileFormat | None = None,
        record: type[BaseModel] | None = None,
        to_input: Callable[[Any], Any] | None = None,
        compression: Literal["auto", "gzip", "none"] = "auto",
        batch_size: int = 500,
        settle_seconds: float = 2.0,
        done_marker: bool = False,
        limits: FileLimits | None = None,
        rejects: RejectLimit | None = None,
    ) -> Callable[[F], F]: ...
    def inbound_file(
        self,
        name: str,
        *,
        directory: str | PurePath,
        command: Callable[..., Any] | None = None,
        pattern: str = "*",
        format: FileFormat | None = None,
        record: type[BaseModel] | None = None,
        to_input: Callable[[Any], Any] | None = None,
        compression: Literal["auto", "gzip", "none"] = "auto",
        batch_size: int = 500,
        settle_seconds: float = 2.0,
        done_marker: bool = False,
        limits: FileLimits | None = None,
        rejects: RejectLimit | None = None,
    ) -> InboundFileSpec | Callable[[F], F]:
        """Declare files dropped in ``directory`` whose records each run a command (see
        :mod:`interlink.patterns.inbound_file.declarations`); declares this domain's ``FileIngested`` event on
        first use.

        As a decorator, the decorated function is that command (declared as one if it is not yet)::

            @customer.inbound_file("branch", directory="incoming", pattern="customers-*.csv")
            async def register_from_branch(ctx: Context, data: RegisterCustomer) -> Customer: ...

        ``command=`` names an already declared command instead (the call form, which returns the spec).
        """

        def register(func: Callable[..., Any]) -> InboundFileSpec:
            spec = self.spec_of(func)
            if not isinstance(spec, CommandSpec):
                raise ConfigurationError(f"inbound file {name!r}: {func!r} is not a command of {self}")
            if name in self.inbound_files:
                raise ConfigurationError(f"domain {self.name!r} already declares inbound file {name!r}")
            event = self.events.get("FileIngested") or self.event(file_ingested_event(self.name))
            if not issubclass(event, FileIngested):
                raise ConfigurationError(f"domain {self.name!r} has its own FileIngested event; rename it")
            self.internal_commands.add(spec.name)
            self.inbound_files[name] = inbound_file_spec(
                name, spec, event, directory=directory, pattern=pattern, format=format, record=record,
                to_input=to_input, compression=compression, batch_size=batch_size, settle_seconds=settle_seconds,
                done_marker=done_marker, limits=limits or FileLimits(), rejects=rejects or RejectLimit(),
            )  # fmt: skip
            return self.inbound_files[name]

        return register(command) if command is not None else self._declaring(register)
