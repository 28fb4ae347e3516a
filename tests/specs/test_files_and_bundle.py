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


def test_the_file_schema_keeps_the_constraints_of_a_decimal_field() -> None:
    """The mainframe's repayment amount (> 0, 11 digits, 2 places) keeps its limits: a pattern on the text a
    file holds, multipleOf on the number, and every bound as the model states it."""
    result = runner.invoke(app, ["spec", "files", "examples.bank.payments:payments"])
    assert result.exit_code == 0, result.output
    [layout] = json.loads(result.output).values()
    amount = layout["properties"]["amount"]
    number, text = amount["anyOf"]
    assert (number["exclusiveMinimum"], number["multipleOf"]) == (0, 0.01)
    assert amount["x-interlink-decimal"] == {"exclusiveMinimum": "0", "maxDigits": "11", "decimalPlaces": "2"}
    record = {k: "1" for k in layout["required"]} | {"amount": "123456789.12"}
    validator = jsonschema.Draft202012Validator({**layout, "properties": {"amount": amount}, "required": []})
    assert validator.is_valid(record)
    assert not validator.is_valid({"amount": "1234567890.12"})  # 12 digits
    assert not validator.is_valid({"amount": "12.345"})  # 3 places
    assert re.fullmatch(text["pattern"].strip("^$"), "0.5")


def test_the_bundle_index_captions_the_landscape_with_its_title(tmp_path: Path) -> None:
    """The landscape picture in index.html (and landscape.html) is captioned with the bundle's title, not
    with the name of the last document written."""
    out = tmp_path / "specs"
    assert runner.invoke(app, ["spec", "bundle", "tests.specs.landscape_app", "--out", str(out)]).exit_code == 0
    for page in ("index.html", "landscape.html", "landscape.svg"):
        text = (out / page).read_text()
        assert 'aria-label="Landscape: tests.specs.landscape_app"' in text, page
        assert ">OpenAPI 3.1</text>" not in text, page
