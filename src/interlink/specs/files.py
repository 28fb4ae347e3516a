"""Inbound file layouts as JSON Schema: one document per inbound file source of a domain.

The schema is the record model's (what each record must satisfy once read); ``x-interlink-file`` says how
records are laid out in the file (CSV delimiter and column names, fixed-width positions, JSON lines),
which files are taken, and which command each record runs.
"""

from __future__ import annotations

from typing import Any

from interlink.core.domain import Domain
from interlink.core.inbound import InboundFileSpec
from interlink.specs.model import INBOUND_FILE

__all__ = ["JSON_SCHEMA_DIALECT", "file_schema", "file_schemas"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def file_schema(domain: Domain, source: InboundFileSpec) -> dict[str, Any]:
    """The JSON Schema of one inbound file source's records, with the file's layout."""
    record = source.record.model_json_schema(mode="validation")
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


def file_schemas(domain: Domain) -> dict[str, dict[str, Any]]:
    """Every inbound file source of the domain, by name."""
    return {name: file_schema(domain, source) for name, source in domain.inbound_files.items()}
