"""Finding the domains a command line names, and turning errors into one clear line."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from interlink.exceptions import ConfigurationError, InterlinkError
from interlink.patterns.registry import Domain
from interlink.runtime import loop

__all__ = ["console", "err_console", "errors", "importable_from_cwd", "load_domain", "load_domains", "run_async"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def importable_from_cwd() -> None:
    """Let ``MODULE`` arguments name modules of the project the command runs in, as ``python -m`` does."""
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))


def load_domains(target: str) -> list[Domain]:
    """``package.module:name`` (a Domain, or a list of them) or ``package.module`` (every Domain in it)."""
    module_name, _, attr = target.partition(":")
    importable_from_cwd()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} ({exc}); run from the project's folder") from exc
    if not attr:
        found = [v for v in vars(module).values() if isinstance(v, Domain)]
        if not found:
            raise ConfigurationError(f"module {module_name!r} defines no Domain; name one as {module_name}:NAME")
        return found
    value = getattr(module, attr, None)
    if isinstance(value, Domain):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, Domain) for v in value):
        return list(value)
    raise ConfigurationError(f"{target}: {attr!r} is not a Domain (or a list of domains) in {module_name!r}")


def load_domain(target: str) -> Domain:
    """Exactly one domain."""
    domains = load_domains(target)
    if len(domains) != 1:
        names = ", ".join(d.name for d in domains)
        raise ConfigurationError(f"{target} names {len(domains)} domains ({names}); name one as MODULE:DOMAIN")
    return domains[0]


@contextmanager
def errors() -> Iterator[None]:
    """Print an Interlink error as one line with what to do, and exit 2; never a traceback."""
    try:
        yield
    except InterlinkError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion (on uvloop when installed), with errors turned into one line."""

    async def wrapped() -> T:
        return await main()

    with errors():
        return loop.run(wrapped())
