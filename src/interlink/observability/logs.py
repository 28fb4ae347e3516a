"""Log lines a machine can read: one JSON object per line, carrying what the line was written about.

The delivery code binds what it is working on (domain, subscription, message id, correlation id, the W3C
``traceparent``) with :func:`bound`; every line logged inside carries those fields, so a log search for one
message id or trace id finds every line of its journey. Payloads are never among them: they hold personal
data. Interlink logs no message body or command input itself; the one way such data slips into a line is the
text of a validation error (pydantic writes each wrong field's ``input_value``), so every line hides those
values unless payloads were asked for (``interlink run --log-payloads``). Off a terminal, text lines are
never wrapped (a wrapped URL cannot be searched for).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any, Literal

from interlink.observability.tracing import span_ids

__all__ = ["JsonFormatter", "LogFormat", "bound", "configure_logging", "current_fields", "hide_payloads"]

LogFormat = Literal["text", "json"]

_fields: ContextVar[Mapping[str, str]] = ContextVar("interlink_log_fields", default=MappingProxyType({}))

#: What pydantic writes of the value a field was given, in a validation error's text.
_INPUT_VALUE = re.compile(r"input_value=.*?, input_type=")
_HIDDEN = "input_value=<hidden>, input_type="

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


def hide_payloads(text: str) -> str:
    """``text`` with the input values of validation errors replaced by ``<hidden>``."""
    return _INPUT_VALUE.sub(_HIDDEN, text) if "input_value=" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, bound fields, ``extra=``
    fields, and the traceback of an exception as one string. Input values of validation errors are hidden
    unless ``payloads``."""

    def __init__(self, payloads: bool = False) -> None:
        super().__init__()
        self.payloads = payloads

    def format(self, record: logging.LogRecord) -> str:
        hide = (lambda text: text) if self.payloads else hide_payloads
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": hide(record.getMessage()),
        }
        line.update(current_fields())
        line.update({k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES})
        if record.exc_info:
            line["exception"] = hide(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = hide(record.exc_text)
        return json.dumps(line, default=str, ensure_ascii=False)


class _HidingFormatter(logging.Formatter):
    """A formatter whose lines (traceback included) hide the input values of validation errors."""

    def __init__(self, fmt: str, payloads: bool) -> None:
        super().__init__(fmt)
        self.payloads = payloads

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if self.payloads else hide_payloads(text)


class _TextFormatter(_HidingFormatter):
    """Plain lines for a file or a pipe: time, level, logger, message, then the bound fields as key=value."""

    def __init__(self, payloads: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", payloads)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in current_fields().items())
        if not fields:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


def configure_logging(
    level: str = "info", fmt: LogFormat = "text", stream: IO[str] | None = None, *, payloads: bool = False
) -> None:
    """Send the ``interlink`` loggers' lines (and the root's) to ``stream`` (stderr) in ``fmt``.

    Text on a terminal is rendered by rich; text elsewhere and JSON are one line per record (a traceback
    is one more block of lines in text, one string member in JSON). ``payloads`` lets the input values of
    validation errors through (they hold personal data: for debugging only).
    """
    stream = stream or sys.stderr
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter(payloads))
    elif stream.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=stream))
        handler.setFormatter(_HidingFormatter("%(message)s", payloads))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(_TextFormatter(payloads))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
