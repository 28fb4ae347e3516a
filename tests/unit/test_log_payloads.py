"""Payloads stay out of the logs unless asked for: a dead letter's line and traceback hide what the message
held, and ``payloads=True`` (``--log-payloads``) lets it through."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from interlink import Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.observability import configure_logging
from interlink.observability.logs import hide_payloads
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope
from interlink.runtime import DomainRuntime

#: What the message holds that no log line may show.
SECRET = "Jane Doe, IBAN DE89370400440532013000"

registry = Domain("registry")


@registry.event
class PersonRegistered(PublicEvent):
    """A person, with personal data."""

    name: str
    age: str


mailing = Domain("mailing")


class Enrol(BaseModel):
    """Input of enrol."""

    age: int


@mailing.command
async def enrol(ctx: Context, data: Enrol) -> None:
    """Never reached: the input does not validate."""


@mailing.on(PersonRegistered)
async def welcome(ctx: Context, event: PersonRegistered) -> None:
    """Enrol the person: fails, the age is no number, and pydantic's error quotes the value it was given."""
    await ctx.execute(enrol, {"age": event.age})


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger's handlers and level back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def _dead_letter_line(payloads: bool) -> dict[str, str]:
    """Park one message whose handler's command input fails validation (the age is the secret); the JSON line
    logged for it."""
    out = io.StringIO()
    configure_logging("info", "json", out, payloads=payloads)
    envelope = Envelope(
        id=uuid.uuid4().hex, source="registry", type=PersonRegistered.message_type(),
        time=datetime.now(UTC), data={"name": "x", "age": SECRET},
    )  # fmt: skip
    async with MemoryBroker() as broker, MemoryStore(domain="mailing") as store:
        runtime = DomainRuntime(mailing, store, broker)
        await runtime.prepare()
        await broker.publish([OutgoingMessage.of(envelope)])
        deliveries = await broker.fetch(runtime.subscription.name, 10, 0.01)
        await runtime.consumers[0].process(deliveries)
        (letter,) = await store.dead_letters()
    assert letter.error_class == "permanent"
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    (line,) = [x for x in lines if x["message"].startswith("dead letter")]
    assert line["message_id"] == envelope.id
    return dict(line)


async def test_a_dead_letter_line_and_its_traceback_do_not_hold_the_payload(restore_root: None) -> None:
    """By default the parked message's data is in neither the line nor its traceback; the error is."""
    line = await _dead_letter_line(payloads=False)
    assert SECRET not in json.dumps(line)
    assert "input_value=<hidden>" in line["message"]
    assert "ValidationError" in line["exception"]


async def test_asked_for_payloads_appear(restore_root: None) -> None:
    """With payloads asked for, the value that failed validation is in the line."""
    line = await _dead_letter_line(payloads=True)
    assert SECRET in line["message"]


def test_text_lines_hide_input_values_too() -> None:
    """The hiding works on any text in pydantic's error format, nested values included."""
    text = "age\n  Input should be a valid integer [type=int_parsing, input_value={'a': 'x, y'}, input_type=dict]"
    assert hide_payloads(text).endswith("[type=int_parsing, input_value=<hidden>, input_type=dict]")
