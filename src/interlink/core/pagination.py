"""Pages of aggregates for list queries, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from interlink.exceptions import InvalidInput

__all__ = ["InvalidCursor", "Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Some items and, when there are more, the cursor that fetches the next page."""

    items: list[T] = Field(description="The items of this page, in id order.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to fetch the next page; absent on the last page."
    )

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        """``CustomerPage`` for ``Page[Customer]``: a schema name a client generator keeps as it is."""
        return "".join(getattr(p, "__name__", str(p)) for p in params) + "Page"


class InvalidCursor(InvalidInput):
    """A cursor no page gave out (an HTTP API answers 400)."""


def _check(last_id: bytes) -> str:
    # A checksum, not a secret: it tells a cursor a page gave out from a string made up or cut short.
    return hashlib.sha256(b"interlink-cursor\0" + last_id).hexdigest()[:8]


def encode_cursor(last_id: str) -> str:
    """An opaque cursor that resumes after ``last_id``."""
    raw = last_id.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + _check(raw)


def decode_cursor(cursor: str) -> str:
    """The id a cursor resumes after; InvalidCursor when it is not one of ours."""
    encoded, _, check = cursor.rpartition(".")
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not encoded or check != _check(raw):
            raise ValueError("checksum")
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not a cursor this API gave out") from exc
