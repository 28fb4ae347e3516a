"""Inbound file layouts as JSON Schema, and every document of a landscape bundled in one folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from interlink.cli.main import app

runner = CliRunner()


def test_spec_files_prints_a_valid_json_schema_per_layout_with_its_format() -> None:
    """Each inbound file source gets a 2020-12 JSON Schema of its records and its file layout."""
    result = runner.invoke(app, ["spec", "files", "tests.specs.landscape_app:ledger"])
    assert result.exit_code == 0, result.output
    schemas = json.loads(result.output)
    assert list(schemas) == ["repayments"]
    schema = schemas["repayments"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"loan_id": "L1", "amount": "12.50"}, schema)
    with pytest.raises(jsonschema.ValidationError, match="loan_id"):
        jsonschema.validate({"amount": "12.50"}, schema)
    layout = schema["x-interlink-file"]
    assert (layout["pattern"], layout["command"], layout["format"]["kind"]) == (
        "REPAY.*.DAT",
        "book_repayment",
        "fixed",
    )
    assert [(f["name"], f["start"], f["length"]) for f in layout["format"]["fields"]] == [
        ("loan_id", 1, 10),
        ("amount", 11, 9),
    ]
    assert schema["x-interlink-pattern"] == "inbound-file"


def test_spec_files_of_a_csv_source_names_its_delimiter_and_a_domain_without_files_is_empty() -> None:
    """A CSV layout says its delimiter and header; a domain without inbound files prints an empty object."""
    csv = json.loads(runner.invoke(app, ["spec", "files", "tests.specs.landscape_app:registry"]).output)
    fmt = csv["branch-customers"]["x-interlink-file"]["format"]
    assert (fmt["kind"], fmt["delimiter"], fmt["header"]) == ("csv", ",", True)
    assert csv["branch-customers"]["required"] == ["id", "name"]
    none = runner.invoke(app, ["spec", "files", "tests.specs.landscape_app:messaging"])
    assert (none.exit_code, json.loads(none.output)) == (0, {})


def test_bundle_writes_every_document_of_every_domain_and_an_index_linking_them(tmp_path: Path) -> None:
    """`spec bundle MODULE` writes AsyncAPI, OpenAPI and file layouts per domain; index.html links each file."""
    out = tmp_path / "specs"
    result = runner.invoke(app, ["spec", "bundle", "tests.specs.landscape_app", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = [
        f"{d}/{f}"
        for d in ("ledger", "lending", "messaging", "registry")
        for f in ("asyncapi.json", "asyncapi.yaml", "openapi.json")
    ]
    diagrams = {"landscape.html", "landscape.svg", "landscape.mmd"}
    assert set(expected) | diagrams | {"index.html", "ledger/files.json", "registry/files.json"} == set(written)
    index = (out / "index.html").read_text()
    assert sorted(set(re.findall(r'href="([^"]+)"', index))) == sorted(set(written) - {"index.html"})
    for domain in ("ledger", "lending", "messaging", "registry"):
        as_json = json.loads((out / domain / "asyncapi.json").read_text())
        assert yaml.safe_load((out / domain / "asyncapi.yaml").read_text()) == as_json
        assert json.loads((out / domain / "openapi.json").read_text())["openapi"].startswith("3.1")
