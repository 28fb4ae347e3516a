"""`--store` and `--broker` help name every URL scheme an adapter is registered for, and docs/backends.md
documents every scheme with its query options, `?namespace=` and `?schema=` among them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import typer

from interlink.cli.options import BrokerOption, StoreOption
from interlink.runtime import backends

DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def _help(option: Any) -> str:
    [info] = [m for m in get_args(option) if isinstance(m, typer.models.OptionInfo)]
    return str(info.help)


def test_the_help_of_store_and_broker_names_every_scheme() -> None:
    """Each scheme of the adapter registry appears in its option's help as `<scheme>://`."""
    for option, table in ((StoreOption, backends.STORES), (BrokerOption, backends.BROKERS)):
        text = _help(option)
        missing = [scheme for scheme in table if f"{scheme}://" not in text]
        assert missing == [], (missing, text)
    assert "?namespace=" in _help(BrokerOption)
    assert "?schema=" in _help(StoreOption)


def test_the_backends_page_documents_every_scheme_and_the_url_options() -> None:
    """docs/backends.md has a row per scheme in its URL table, and explains ?namespace= and ?schema=."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## URLs and their options", 1)[1].split("\n## ", 1)[0]
    for scheme in {*backends.STORES, *backends.BROKERS}:
        assert re.search(rf"`{scheme}://", section), scheme
    assert "`?namespace=`" in section
    assert "`?schema=`" in section
