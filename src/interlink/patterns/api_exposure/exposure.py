"""Which of a domain's commands and queries are served over HTTP: only the declared ones.

A command or query is served when it declares its route (``http="POST /customers"``). The generic routes
(``POST /commands/<name>``, ``GET /queries/<name>``) exist only when the domain opts in
(``Domain(..., generic_routes=True)``), and even then never for a command the domain runs itself: the
update command of a notification, the command of an inbound file, a saga's ``on_end``, or a command that an
event, command or reply handler runs. Such a command trusts its caller (it keeps data fetched from another
domain, or ends a saga), so an outside caller must not be able to run it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain

__all__ = ["internal_commands", "served"]

# How deep to follow the plain functions a handler calls when looking for the commands it runs.
_DEPTH = 4


def served(domain: Domain) -> list[CommandSpec | QuerySpec]:
    """The commands and queries of ``domain`` that get an HTTP route, commands first."""
    internal = internal_commands(domain)
    commands = [c for c in domain.commands.values() if c.http or (domain.generic_routes and c.name not in internal)]
    queries = [q for q in domain.queries.values() if q.http or domain.generic_routes]
    return [*commands, *queries]


def internal_commands(domain: Domain) -> set[str]:
    """Names of the commands the domain runs itself (from handlers, notifications, files and sagas)."""
    found: set[str] = set(domain.internal_commands)
    runners: list[Callable[..., Any]] = [h.func for h in domain.handlers] + domain.runners
    for runner in runners:
        for func in _referenced(runner, _DEPTH, set()):
            spec = domain.spec_of(func)
            if isinstance(spec, CommandSpec):
                found.add(spec.name)
    return found


def _referenced(func: Callable[..., Any], depth: int, seen: set[int]) -> Iterator[Callable[..., Any]]:
    """Module-level functions that ``func`` names in its code, and those they name, ``depth`` calls deep."""
    code = getattr(func, "__code__", None)
    scope = getattr(func, "__globals__", None)
    if not isinstance(code, types.CodeType) or scope is None or id(func) in seen or depth < 0:
        return
    seen.add(id(func))
    for name in _names(code):
        value = scope.get(name)
        if callable(value):
            yield value
            yield from _referenced(value, depth - 1, seen)


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, comprehensions and lambdas
            yield from _names(const)
