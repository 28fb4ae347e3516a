"""Inbound file layouts as JSON Schema: one document per inbound file source of a domain.

The schema is the record model's (what each record must satisfy once read); ``x-interlink-file`` says how
records are laid out in the file (CSV delimiter and column names, fixed-width positions, JSON lines),
which files are taken, and which command each record runs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

from pydantic import BaseModel

from interlink.core.domain import Domain
from interlink.patterns.inbound_file.declarations import InboundFileSpec, inbound_files_of
from interlink.specs.model import INBOUND_FILE

__all__ = ["JSON_SCHEMA_DIALECT", "file_schema", "file_schemas"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def file_schema(domain: Domain, source: InboundFileSpec) -> dict[str, Any]:
    """The JSON Schema of one inbound file source's records, with the file's layout."""
    record = source.record.model_json_schema(mode="validation")
    _keep_decimal_constraints(source.record, record)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:interlink:{domain.name}:files:{source.name}",
        **record,
        "x-interlink-pattern": INBOUND_FILE,
        "x-interlink-file": {
            "domain": domain.name,
            "source": source.name,
            "directory": source.directory.as_posix(),
            "pattern": source.pattern,
            "compression": source.compression,
            "format": source.format.model_dump(mode="json"),
            "command": source.command.name,
            "event": source.event.message_type(),
        },
    }


_DECIMAL_LIMITS = ("gt", "ge", "lt", "le", "multiple_of", "max_digits", "decimal_places")
_JSON_NAMES = {
    "gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum", "multiple_of": "multipleOf",
    "max_digits": "maxDigits", "decimal_places": "decimalPlaces",
}  # fmt: skip


def _keep_decimal_constraints(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """A file holds a Decimal as text, and pydantic's schema of the text branch drops the field's limits:
    put them back. Digits and decimal places become the text's ``pattern`` (and the number's
    ``multipleOf``); the bounds, exact as the model has them, go in ``x-interlink-decimal``."""
    for name, info in model.model_fields.items():
        if Decimal not in (info.annotation, *get_args(info.annotation)):
            continue
        limits = {a: getattr(m, a) for m in info.metadata for a in _DECIMAL_LIMITS if getattr(m, a, None) is not None}
        prop = schema.get("properties", {}).get(info.alias or name)
        if not limits or not isinstance(prop, dict):
            continue
        places, digits = limits.get("decimal_places"), limits.get("max_digits")
        branches = prop.get("anyOf", [prop])
        for branch in branches:
            if branch.get("type") == "string" and (places is not None or digits is not None):
                whole = "+" if digits is None else f"{{0,{digits - (places or 0)}}}"
                fraction = "" if places == 0 else f"(\\.[0-9]{{0,{places}}})?" if places is not None else "(\\.[0-9]+)?"
                branch["pattern"] = f"^-?[0-9]{whole}{fraction}$"
            if branch.get("type") == "number" and places:
                branch["multipleOf"] = float(Decimal(1).scaleb(-places))
        prop["x-interlink-decimal"] = {_JSON_NAMES.get(k, k): str(v) for k, v in limits.items()}


def file_schemas(domain: Domain) -> dict[str, dict[str, Any]]:
    """Every inbound file source of the domain, by name."""
    return {name: file_schema(domain, source) for name, source in inbound_files_of(domain).items()}
