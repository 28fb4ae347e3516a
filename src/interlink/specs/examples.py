"""Examples of messages as they travel: a whole CloudEvent whose ``data`` is the example its model declares.

A model declares its examples the pydantic way (``model_config = ConfigDict(json_schema_extra={"examples":
[...]})``, or ``Field(examples=[...])`` on every field without a default); the example is validated by the
model and written as the model serializes it, so it matches the document's schema. A model that declares
none gets no example: an invented one would teach readers values the domain never sends.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from interlink.specs.model import MessageSpec

__all__ = ["message_example", "model_example"]

#: The fixed attributes of every example envelope: one correlation, one moment.
_TIME = "2026-12-07T09:30:00Z"
_CORRELATION = "4f1c2a9e7b3d4e8f9a0b1c2d3e4f5a6b"


def model_example(model: type[BaseModel]) -> dict[str, Any] | None:
    """The first example ``model`` declares, as it serializes; None when it declares none (or a bad one)."""
    declared = model.model_config.get("json_schema_extra")
    given = declared.get("examples") if isinstance(declared, dict) else None
    candidates: list[Any] = list(given) if isinstance(given, list) else []
    if not candidates:
        fields: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            if info.examples:
                fields[info.alias or name] = info.examples[0]
            elif info.is_required():
                return None
        candidates = [fields]
    try:
        return model.model_validate(candidates[0]).model_dump(mode="json", by_alias=True)
    except ValidationError:
        return None


def message_example(message: MessageSpec, payload: dict[str, Any]) -> dict[str, Any] | None:
    """An AsyncAPI message example: the envelope ``payload`` describes, around the model's example."""
    data = model_example(message.model)
    if data is None:
        return None
    properties = payload.get("properties", {})
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": "0b6e0c52-6d3e-4c1b-9a57-2f4f0d1e8a10",
        "source": properties.get("source", {}).get("const", message.message_type.split(".", 1)[0]),
        "type": message.message_type,
        "time": _TIME,
        "datacontenttype": "application/json",
        "correlationid": _CORRELATION,
    }
    subject = data.get("id") or next((v for k, v in data.items() if k.endswith("_id") and isinstance(v, str)), None)
    if isinstance(subject, str):
        envelope["subject"] = subject
    if "targetdomain" in properties:
        envelope |= {
            "targetdomain": properties["targetdomain"].get("const", ""),
            "replyto": f"{_issuer(message)}.replies",
            "commandid": "7d2f4a1e-3b5c-4e6f-8a9b-0c1d2e3f4a5b",
        }
    if "inreplyto" in properties:
        envelope["inreplyto"] = "7d2f4a1e-3b5c-4e6f-8a9b-0c1d2e3f4a5b"
    envelope["data"] = data
    return {"name": message.name.replace(".", "-"), "summary": f"A {message.model.__name__}", "payload": envelope}


def _issuer(message: MessageSpec) -> str:
    # The example of a command shows some issuer; the document does not know which domains send it.
    return "issuer"
