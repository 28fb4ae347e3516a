"""Declaring an inbound file source: what is checked at declaration time, and the event it brings."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from interlink import Context, Domain
from interlink.exceptions import ConfigurationError
from interlink.patterns.inbound_file.declarations import (
    CsvFormat,
    FileIngested,
    FixedField,
    FixedWidthFormat,
    JsonLinesFormat,
)
from tests.faults.apps.inbound_app import EntryRow, ledger_domain, post_entry


def test_declaration_registers_the_source_and_a_public_event_of_the_domain() -> None:
    """The source is in the registry with its defaults; FileIngested is declared once, as the domain's own."""
    domain = ledger_domain("incoming", batch_size=10)
    spec = domain.inbound_files["entries"]
    assert (spec.directory, spec.pattern, spec.batch_size, spec.record) == (
        PurePath("incoming"), "entries-*", 10, EntryRow,
    )  # fmt: skip
    assert spec.command.func is post_entry
    assert isinstance(spec.format, CsvFormat)
    assert spec.event is domain.events["FileIngested"]
    assert issubclass(spec.event, FileIngested)
    assert spec.event.message_type() == "ledger.FileIngested"
    assert spec.event.public
    domain.inbound_file("more", directory="other", command=post_entry)
    assert domain.inbound_files["more"].event is spec.event, "one event class per domain"


def test_each_domain_gets_its_own_event_class() -> None:
    """Two domains declaring sources get two FileIngested classes, each owned by its domain."""
    first, second = ledger_domain("a"), ledger_domain("b")
    other = Domain("branch")
    other.command(post_entry)
    other.inbound_file("entries", directory="x", command=post_entry)
    assert first.events["FileIngested"] is not second.events["FileIngested"]
    assert other.events["FileIngested"].owner() == "branch"
    assert first.events["FileIngested"].owner() == "ledger"


async def _untyped(ctx: Context) -> None:
    """A command without input."""


class Other(BaseModel):
    """A model that is not the command's input."""

    id: str


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "lowercase letters"),
        ({"pattern": "../*.csv"}, "must name files of the directory itself"),
        ({"pattern": ".hidden*"}, "must name files of the directory itself"),
        ({"record": Other}, "pass to_input= to map one to the other"),
        ({"format": CsvFormat(encoding="klingon")}, "unknown encoding 'klingon'"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"compression": "zip"}, "compression must be"),
    ],
    ids=["name", "traversal", "hidden", "record", "encoding", "batch", "compression"],
)
def test_a_bad_declaration_says_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    """Each kind of mistake raises ConfigurationError naming it."""
    domain = Domain("ledger")
    domain.command(post_entry)
    options: dict[str, Any] = {"name": "entries", "directory": "in", "command": post_entry} | changes
    with pytest.raises(ConfigurationError, match=message):
        domain.inbound_file(**options)


def test_the_command_must_be_one_of_the_domain_with_an_input() -> None:
    """An undeclared function, or a command without input, cannot receive records; names are unique."""
    domain = Domain("ledger")
    with pytest.raises(ConfigurationError, match="is not a command of"):
        domain.inbound_file("entries", directory="in", command=post_entry)
    domain.command(post_entry)
    domain.command(_untyped)
    with pytest.raises(ConfigurationError, match="takes no input"):
        domain.inbound_file("entries", directory="in", command=_untyped)
    domain.inbound_file("entries", directory="in", command=post_entry)
    with pytest.raises(ConfigurationError, match="already declares inbound file 'entries'"):
        domain.inbound_file("entries", directory="in", command=post_entry)


def test_to_input_maps_another_record_model() -> None:
    """With to_input, the record model may differ from the command's input."""
    domain = Domain("ledger")
    domain.command(post_entry)
    spec = domain.inbound_file("entries", directory="in", command=post_entry, record=Other, to_input=lambda r: r)
    assert spec.record is Other


def test_formats_check_their_own_consistency() -> None:
    """A CSV without header needs field names; a fixed-width layout may not overlap nor exceed its width."""
    with pytest.raises(ValidationError, match="needs fieldnames"):
        CsvFormat(header=False)
    with pytest.raises(ValidationError, match="rename header columns"):
        CsvFormat(fieldnames=("a",))
    with pytest.raises(ValidationError, match="overlap"):
        FixedWidthFormat(fields=(FixedField(name="a", start=1, length=5), FixedField(name="b", start=5, length=2)))
    with pytest.raises(ValidationError, match="shorter than the layout"):
        FixedWidthFormat(fields=(FixedField(name="a", start=1, length=5),), width=4)
    layout = FixedWidthFormat(fields=(FixedField(name="a", start=3, length=5),), width=12)
    assert (layout.fields[0].end, layout.record_width) == (7, 12)
    assert JsonLinesFormat().kind == "jsonl"
