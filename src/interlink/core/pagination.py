"""Pages of aggregates for list queries, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

from pydantic import BaseModel

from interlink.exceptions import InvalidInput

__all__ = ["Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Some items and, when there are more, the cursor that fetches the next page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: str) -> str:
    """An opaque cursor that resumes after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor resumes after; InvalidInput when it is not one of ours."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cursor {cursor[:40]!r} is not a cursor this API gave out") from exc
