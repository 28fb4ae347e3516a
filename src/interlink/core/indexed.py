"""Declared query fields: the fields an aggregate is listed by, which the store keeps indexed.

An aggregate marks each field it is queried by with :class:`Indexed`::

    class LoanRequest(Aggregate):
        customer_id: Annotated[str, Indexed()]
        status: Annotated[Status, Indexed()] = "submitted"

and ``ctx.list(LoanRequest, where={"customer_id": ...})`` is then one index range scan on every SQL store
(docs/queries.md). A list by a field that is not declared is refused (ConfigurationError) instead of
scanning every aggregate of the kind: the cost of a query must not grow with the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from types import UnionType
from typing import TYPE_CHECKING, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from interlink.exceptions import ConfigurationError

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = ["Indexed", "check_filters", "declared_indexes", "indexed_fields"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Fields the framework filters on by itself (a replica's tombstone flag), never by a user's ``where``.
_IMPLIED = frozenset({"deleted"})


@dataclass(frozen=True)
class Indexed:
    """Marks an aggregate field as one it is listed by: ``customer_id: Annotated[str, Indexed()]``.

    The store keeps an index per declared field (with the id, so pages in id order stay a range scan);
    ``ctx.list`` accepts only declared fields in ``where``.
    """


@cache
def indexed_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``cls`` declared ``Indexed()``, in declaration order.

    Raises ConfigurationError for a declared field whose name a store cannot index (letters, digits and
    ``_``, at most 64) or that has an alias (the stored document uses the field name).
    """
    found = []
    for name, info in cls.model_fields.items():
        if not any(isinstance(m, Indexed) for m in info.metadata):
            continue
        if not _NAME.match(name) or info.alias not in (None, name):
            raise ConfigurationError(
                f"{cls.__name__}.{name} is declared Indexed() but cannot be indexed: a field name of letters, "
                f"digits and '_' (at most 64), without an alias"
            )
        if not _scalar(info.annotation):
            raise ConfigurationError(
                f"{cls.__name__}.{name} is declared Indexed() but holds {info.annotation}: only a field of one "
                f"value (text, number, bool, date, enum, Literal; or None) is compared by ctx.list"
            )
        found.append(name)
    return tuple(found)


def _scalar(annotation: object) -> bool:
    """False for a model, a collection or a mapping (also inside Optional); a JSON object or array has no
    value a list could compare."""
    if isinstance(annotation, type):
        return not issubclass(annotation, BaseModel | list | dict | set | frozenset | tuple)
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return all(_scalar(a) for a in get_args(annotation))
    if origin is Literal or origin is None:
        return True
    return _scalar(origin)


def check_filters(cls: type[BaseModel], names: Iterable[str]) -> None:
    """Refuse a list of ``cls`` by a field that is not declared ``Indexed()`` (ConfigurationError)."""
    declared = indexed_fields(cls)
    missing = sorted(set(names) - set(declared) - _IMPLIED)
    if not missing:
        return
    field = missing[0]
    raise ConfigurationError(
        f"{cls.__name__} is listed by {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
        f"declared as a query field (declared: {', '.join(declared) or 'none'}); a list by it would read every "
        f"{cls.__name__}. Declare it: {field}: Annotated[<type>, Indexed()] (from interlink import Indexed)"
    )


def declared_indexes(domain: Domain) -> dict[str, tuple[str, ...]]:
    """The indexed fields of every aggregate and stored model (replicas...) of ``domain``, by the kind it is
    stored under."""
    models = [*domain.aggregates.values(), *domain.stored_kinds]
    found: dict[str, tuple[str, ...]] = {}
    for model in models:
        fields = indexed_fields(model)
        if fields:
            kind = domain.kind_of(model)
            found[kind] = tuple(dict.fromkeys([*found.get(kind, ()), *fields]))
    return found
