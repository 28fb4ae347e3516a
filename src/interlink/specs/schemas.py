"""JSON Schema of pydantic models, with their shared definitions gathered where a document wants them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

__all__ = ["model_schemas"]


def model_schemas(
    models: Iterable[type[BaseModel]], ref_template: str
) -> tuple[dict[type[BaseModel], dict[str, Any]], dict[str, Any]]:
    """Each model's schema (a ``$ref``) and every definition, with references written by ``ref_template``
    (for instance ``"#/components/schemas/{model}"``). Models with the same name get distinct definitions."""
    unique = list(dict.fromkeys(models))
    if not unique:
        return {}, {}
    refs, top = models_json_schema([(m, "serialization") for m in unique], ref_template=ref_template)
    return {m: refs[(m, "serialization")] for m in unique}, top.get("$defs", {})
