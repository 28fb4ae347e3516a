"""JSON and plain log lines: one line per record, the bound fields, trace ids, tracebacks."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from interlink.observability import JsonFormatter, bound, configure_logging, current_fields


@pytest.fixture
def restore_root() -> Iterator[logging.Logger]:
    """Put the root logger's handlers and level back after a test that configures logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_bound_fields_and_the_trace_of_the_message(restore_root: object) -> None:
    """A line logged inside ``bound`` has the message's ids and the trace and span ids of its traceparent."""
    out = io.StringIO()
    configure_logging("info", "json", out)
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with bound(domain="loan-request", subscription="s1", message_id="m1", traceparent=f"00-{trace}-{span}-01"):
        logging.getLogger("interlink.consumer").warning("retry %s", "m1", extra={"attempt": 2})
    logging.getLogger("interlink.consumer").info("outside")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "retry m1"
    assert first["level"] == "warning"
    assert first["logger"] == "interlink.consumer"
    assert (first["domain"], first["subscription"], first["message_id"]) == ("loan-request", "s1", "m1")
    assert (first["trace_id"], first["span_id"], first["attempt"]) == (trace, span, 2)
    assert "traceparent" not in first
    assert first["time"].endswith("+00:00")
    assert "message_id" not in second


def test_a_traceback_is_one_json_string_member() -> None:
    """An exception's traceback travels in the line's ``exception`` member, not as extra lines."""
    try:
        raise ValueError("bad data at record 7")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "parked", None, None)

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: bad data at record 7" in json.loads(line)["exception"]


def test_plain_text_off_a_terminal_is_one_unwrapped_line(restore_root: object) -> None:
    """Off a TTY a long line stays one line, with the bound fields after the message."""
    out = io.StringIO()
    configure_logging("info", "text", out)
    url = "http://127.0.0.1:8001/customer/customers/" + "C" * 150
    with bound(domain="d", message_id="m9"):
        logging.getLogger("interlink.external").info("fetching %s", url)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert url in lines[0]
    assert lines[0].endswith("[domain=d message_id=m9]")


def test_bound_fields_nest_and_unwind() -> None:
    """An inner ``bound`` adds to the outer one and is gone after its block; None values are left out."""
    with bound(domain="d"):
        with bound(message_id="m", correlation_id=None):
            assert current_fields() == {"domain": "d", "message_id": "m"}
        assert current_fields() == {"domain": "d"}
    assert current_fields() == {}
