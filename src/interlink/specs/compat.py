"""Breaking changes between two versions of a JSON Schema: what the other side of the old one trips on.

A field removed (or renamed), a type changed, a field that became required or is new and required are
breaking; a new optional field is compatible. A field that is no longer required breaks those who *read*
the data (subscribers of an event, clients of a response) but not those who *write* it (issuers of a
command, senders of a request body or a file). References (``$ref``) are followed inside each version's
own document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Change", "Resolver", "compare_schemas", "document_resolver"]

Schema = dict[str, Any]
Resolver = Callable[[Schema], Schema]


@dataclass(frozen=True)
class Change:
    """One difference: where it is, what it is, and whether it breaks the other side."""

    where: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'breaking' if self.breaking else 'compatible'}: {self.where}: {self.what}"


def document_resolver(document: dict[str, Any]) -> Resolver:
    """Follows local references (``#/components/schemas/X``, ``#/$defs/X``) within ``document``."""

    def resolve(schema: Schema) -> Schema:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            target: Any = document
            for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else []:
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            schema, seen = (target if isinstance(target, dict) else {}), seen + 1
        return schema

    return resolve


def _types(schema: Schema, resolve: Resolver, depth: int = 0) -> frozenset[str]:
    """What a value may be: JSON types, with object and array as such (their insides are compared apart)."""
    schema = resolve(schema)
    if depth > 8 or not schema:
        return frozenset({"any"})
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for member in schema.get(key, []):
            found |= _types(member, resolve, depth + 1)
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found |= set(declared)
    for value in [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]:
        found.add(_json_type(value))
    if not found and "properties" in schema:
        found.add("object")
    if "integer" in found and "number" in found:
        found.discard("integer")
    return frozenset(found or {"any"})


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "any"


def _object_part(schema: Schema, resolve: Resolver) -> Schema | None:
    """The object schema inside ``schema`` (itself, or the one member of an ``anyOf`` that is an object)."""
    schema = resolve(schema)
    if "properties" in schema:
        return schema
    members = [resolve(m) for m in schema.get("anyOf", []) + schema.get("oneOf", [])]
    objects = [m for m in members if "properties" in m]
    return objects[0] if len(objects) == 1 else None


def _items(schema: Schema, resolve: Resolver) -> Schema | None:
    schema = resolve(schema)
    if isinstance(schema.get("items"), dict):
        return dict(schema["items"])
    members = [resolve(m) for m in schema.get("anyOf", []) + schema.get("oneOf", [])]
    arrays = [m for m in members if isinstance(m.get("items"), dict)]
    return dict(arrays[0]["items"]) if len(arrays) == 1 else None


def _show(types: frozenset[str]) -> str:
    return " | ".join(sorted(types))


def compare_schemas(
    old: Schema,
    new: Schema,
    where: str,
    old_resolve: Resolver,
    new_resolve: Resolver,
    *,
    read: bool,
    field: str = "",
) -> list[Change]:
    """Every difference between two versions of a schema, the breaking ones marked; ``read``: the other side
    reads this data (otherwise it writes it)."""
    changes: list[Change] = []
    old_types, new_types = _types(old, old_resolve), _types(new, new_resolve)
    name = f"field {field!r}" if field else "the payload"
    if old_types != new_types and "any" not in old_types | new_types:
        changes.append(Change(where, f"type of {name} changed from {_show(old_types)} to {_show(new_types)}", True))
        return changes
    old_obj, new_obj = _object_part(old, old_resolve), _object_part(new, new_resolve)
    if old_obj is not None and new_obj is not None and field.count(".") < 16:
        changes += _compare_objects(old_obj, new_obj, where, old_resolve, new_resolve, read, field)
    old_items, new_items = _items(old, old_resolve), _items(new, new_resolve)
    if old_items is not None and new_items is not None and field.count("[]") < 8:
        changes += compare_schemas(old_items, new_items, where, old_resolve, new_resolve, read=read, field=f"{field}[]")
    return changes


def _compare_objects(
    old: Schema, new: Schema, where: str, old_resolve: Resolver, new_resolve: Resolver, read: bool, field: str
) -> list[Change]:
    changes: list[Change] = []
    prefix = f"{field}." if field else ""
    old_props: dict[str, Schema] = old.get("properties", {})
    new_props: dict[str, Schema] = new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    removed = [p for p in old_props if p not in new_props]
    added = [p for p in new_props if p not in old_props]
    if len(removed) == 1 and len(added) == 1:
        before, after = removed[0], added[0]
        if _types(old_props[before], old_resolve) == _types(new_props[after], new_resolve):
            what = f"field {prefix + before!r} renamed to {prefix + after!r}"
            changes.append(Change(where, what, True))
            removed, added = [], []
    changes += [Change(where, f"field {prefix + p!r} removed", True) for p in removed]
    for p in added:
        if p in new_required:
            changes.append(Change(where, f"new required field {prefix + p!r}", True))
        else:
            changes.append(Change(where, f"optional field {prefix + p!r} added", False))
    for p in old_props:
        if p not in new_props:
            continue
        if p in new_required and p not in old_required:
            changes.append(Change(where, f"field {prefix + p!r} became required", True))
        elif p in old_required and p not in new_required:
            changes.append(Change(where, f"field {prefix + p!r} is no longer required", read))
        changes += compare_schemas(
            old_props[p], new_props[p], where, old_resolve, new_resolve, read=read, field=prefix + p
        )
    return changes
