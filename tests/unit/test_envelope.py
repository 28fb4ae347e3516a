"""The CloudEvents 1.0 envelope: what goes out comes back, and what is malformed is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from interlink.exceptions import MalformedMessage
from interlink.ports.envelope import Envelope, new_message_id

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _envelope(**extra: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": "msg-1",
        "source": "accounts",
        "type": "accounts.AccountOpened",
        "subject": "a-1",
        "time": datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "data": {"account_id": "a-1", "amounts": [1, 2.5], "nested": {"ok": True}},
        "correlationid": "corr-1",
        "causationid": "msg-0",
        "aggregateversion": 3,
        "traceparent": TRACEPARENT,
    }
    return Envelope(**(fields | extra))


def _raw(**changes: Any) -> dict[str, Any]:
    """A valid envelope as a JSON object, with some attributes changed (None removes one)."""
    raw: dict[str, Any] = json.loads(_envelope().encode())
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def _decode_error(raw: bytes | str | dict[str, Any]) -> str:
    text = json.dumps(raw) if isinstance(raw, dict) else raw
    with pytest.raises(MalformedMessage) as caught:
        Envelope.decode(text)
    return str(caught.value)


def test_roundtrip_keeps_everything() -> None:
    """Encoding then decoding gives back an equal envelope, Interlink's extensions included."""
    envelope = _envelope(targetdomain="ledger", replyto="accounts.replies")
    decoded = Envelope.decode(envelope.encode())
    assert decoded == envelope
    assert decoded.time == envelope.time
    assert decoded.extensions == {
        "correlationid": "corr-1",
        "causationid": "msg-0",
        "aggregateversion": 3,
        "traceparent": TRACEPARENT,
        "targetdomain": "ledger",
        "replyto": "accounts.replies",
    }


def test_roundtrip_keeps_unknown_extensions() -> None:
    """Extension attributes Interlink does not know survive encode and decode."""
    envelope = _envelope(tenant="bank7", priority=5, sampled=True)
    decoded = Envelope.decode(envelope.encode())
    assert decoded.extensions["tenant"] == "bank7"
    assert decoded.extensions["priority"] == 5
    assert decoded.extensions["sampled"] is True


def test_unknown_valid_extensions_are_kept_when_decoding() -> None:
    """A received envelope's unknown (validly named) extension attributes are kept, and re-encoded."""
    decoded = Envelope.decode(json.dumps(_raw(partnerref="p-42", comexampleflag="x1")))
    assert decoded.extensions["partnerref"] == "p-42"
    assert json.loads(decoded.encode())["comexampleflag"] == "x1"


def test_encoding_is_structured_json_without_nulls() -> None:
    """The wire form is one JSON object with the CloudEvents attributes and no null attributes."""
    raw = json.loads(_envelope(subject=None, causationid=None).encode())
    assert raw["specversion"] == "1.0"
    assert raw["datacontenttype"] == "application/json"
    assert "subject" not in raw
    assert "causationid" not in raw


def test_defaults_are_filled_in() -> None:
    """specversion and datacontenttype may be left out; optional attributes are None."""
    decoded = Envelope.decode(json.dumps(_raw(specversion=None, datacontenttype=None, subject=None)))
    assert (decoded.specversion, decoded.datacontenttype, decoded.subject) == (
        "1.0",
        "application/json",
        None,
    )


def test_channel_and_ordering_key() -> None:
    """Events go to "<source>.events", commands to "<target>.commands"; the key is type and subject."""
    assert _envelope().channel == "accounts.events"
    assert _envelope(targetdomain="ledger").channel == "ledger.commands"
    assert _envelope().ordering_key == "accounts.AccountOpened:a-1"
    assert _envelope(subject=None).ordering_key is None


def test_message_ids_are_unique() -> None:
    """new_message_id() gives a different id each call."""
    assert len({new_message_id() for _ in range(1000)}) == 1000


@pytest.mark.parametrize("raw", [b"not json at all", b'{"id": "1",', b"", b"\xff\xfe"])
def test_not_json_is_malformed(raw: bytes) -> None:
    """Bytes that are not JSON raise MalformedMessage saying so."""
    assert "JSON" in _decode_error(raw)


@pytest.mark.parametrize("raw", [b"[]", b'"a string"', b"42"])
def test_not_an_object_is_malformed(raw: bytes) -> None:
    """JSON that is not an object raises MalformedMessage."""
    _decode_error(raw)


@pytest.mark.parametrize("attribute", ["id", "source", "type", "time", "data"])
def test_missing_required_attribute_is_named(attribute: str) -> None:
    """An envelope without a required attribute raises MalformedMessage naming that attribute."""
    message = _decode_error(_raw(**{attribute: None}))
    assert f"{attribute}: Field required" in message


@pytest.mark.parametrize("attribute", ["id", "source", "type"])
def test_empty_required_attribute_is_named(attribute: str) -> None:
    """An empty id, source or type raises MalformedMessage naming the attribute."""
    assert f"{attribute}:" in _decode_error(_raw(**{attribute: ""}))


def test_non_string_id_is_named() -> None:
    """An id that is not a string raises MalformedMessage naming id."""
    assert "id:" in _decode_error(_raw(id=12345))


@pytest.mark.parametrize("version", ["0.3", "1", "2.0"])
def test_wrong_specversion_is_named(version: str) -> None:
    """A specversion other than "1.0" raises MalformedMessage naming specversion."""
    assert "specversion:" in _decode_error(_raw(specversion=version))


def test_wrong_datacontenttype_is_named() -> None:
    """Data that is not declared as JSON raises MalformedMessage naming datacontenttype."""
    assert "datacontenttype:" in _decode_error(_raw(datacontenttype="application/xml"))


def test_time_without_timezone_is_named() -> None:
    """A time without a timezone raises MalformedMessage naming time and asking for one."""
    message = _decode_error(_raw(time="2024-05-01T12:00:00"))
    assert "time:" in message
    assert "timezone" in message


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z"])
def test_unreadable_time_is_named(value: str) -> None:
    """A time that is not RFC 3339 raises MalformedMessage naming time."""
    assert "time:" in _decode_error(_raw(time=value))


@pytest.mark.parametrize("value", [0, 1714564800, 1714564800.5])
def test_time_as_a_number_is_named(value: float) -> None:
    """A time given as a number (CloudEvents wants an RFC 3339 string) raises MalformedMessage naming time."""
    assert "time:" in _decode_error(_raw(time=value))


def test_time_keeps_its_offset() -> None:
    """A time with an offset decodes to the same instant."""
    decoded = Envelope.decode(json.dumps(_raw(time="2024-05-01T14:00:00+02:00")))
    assert decoded.time == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("data", [[1, 2], "text", 42, None, True], ids=["list", "str", "int", "null", "bool"])
def test_data_not_an_object_is_named(data: Any) -> None:
    """Data that is not a JSON object raises MalformedMessage naming data."""
    raw = _raw()
    raw["data"] = data
    assert "data:" in _decode_error(raw)


@pytest.mark.parametrize(
    "value",
    [
        "not-a-traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ],
    ids=["garbage", "no-flags", "uppercase", "short-trace", "trailing"],
)
def test_bad_traceparent_is_named(value: str) -> None:
    """A traceparent that is not W3C Trace Context raises MalformedMessage naming traceparent."""
    message = _decode_error(_raw(traceparent=value))
    assert "traceparent:" in message
    assert "W3C Trace Context" in message


def test_negative_aggregate_version_is_named() -> None:
    """A negative aggregateversion raises MalformedMessage naming aggregateversion."""
    assert "aggregateversion:" in _decode_error(_raw(aggregateversion=-1))


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "with-dash", "x" * 21])
def test_invalid_extension_name_is_named(name: str) -> None:
    """An extension attribute whose name is not a CloudEvents name raises MalformedMessage naming it."""
    message = _decode_error(_raw(**{name: "value"}))
    assert repr(name) in message
    assert "not a valid CloudEvents name" in message


def test_extension_value_must_be_a_cloudevents_type() -> None:
    """An extension attribute whose value is a JSON object (no CloudEvents type) raises MalformedMessage."""
    assert "partnerref" in _decode_error(_raw(partnerref={"nested": "object"}))


def test_every_problem_is_named() -> None:
    """An envelope with several problems gets one message naming each of them."""
    message = _decode_error(_raw(id=None, specversion="0.3", data=[1]))
    assert "id:" in message
    assert "specversion:" in message
    assert "data:" in message
