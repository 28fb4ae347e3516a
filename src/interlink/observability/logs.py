"""Log lines a machine can read: one JSON object per line, carrying what the line was written about.

The delivery code binds what it is working on (domain, subscription, message id, correlation id, the W3C
``traceparent``) with :func:`bound`; every line logged inside carries those fields, so a log search for one
message id or trace id finds every line of its journey. Payloads are never among them: they hold personal
data. Off a terminal, text lines are never wrapped (a wrapped URL cannot be searched for).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any, Literal

from interlink.observability.tracing import span_ids

__all__ = ["JsonFormatter", "LogFormat", "bound", "configure_logging", "current_fields"]

LogFormat = Literal["text", "json"]

_fields: ContextVar[Mapping[str, str]] = ContextVar("interlink_log_fields", default=MappingProxyType({}))

#: LogRecord attributes of the logging module itself: the rest of a record's __dict__ came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Within the block, every log line also carries ``fields`` (None values are left out)."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def current_fields() -> dict[str, str]:
    """The fields bound here, with ``trace_id`` and ``span_id`` of the current span (tracing on), else read
    from a bound ``traceparent``."""
    fields = dict(_fields.get())
    traceparent = fields.pop("traceparent", None)
    ids = span_ids()
    if ids is not None:
        fields["trace_id"], fields["span_id"] = ids
    elif traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4:
            fields["trace_id"], fields["span_id"] = parts[1], parts[2]
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, bound fields, ``extra=``
    fields, and the traceback of an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(current_fields())
        line.update({k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """Plain lines for a file or a pipe: time, level, logger, message, then the bound fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in current_fields().items())
        if not fields:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


def configure_logging(level: str = "info", fmt: LogFormat = "text", stream: IO[str] | None = None) -> None:
    """Send the ``interlink`` loggers' lines (and the root's) to ``stream`` (stderr) in ``fmt``.

    Text on a terminal is rendered by rich; text elsewhere and JSON are one line per record (a traceback
    is one more block of lines in text, one string member in JSON).
    """
    stream = stream or sys.stderr
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    elif stream.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=stream))
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(_TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
