"""The bank's documents pass the linters a bank's API governance runs: Spectral (``spectral:oas``,
``spectral:asyncapi``) and Redocly (``recommended``), with zero errors and zero warnings.

The linters are installed by ``make lint-specs-tools`` (``npm ci`` of ``tools/lint-specs``), which ``make test``
runs first; their rulesets are ``tools/lint-specs/.spectral.yaml`` and ``redocly.yaml``, where a rule switched
off says why beside it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from interlink.cli.loading import load_domains
from interlink.patterns.api_exposure import ApiSettings
from interlink.specs.bundle import write_bundle
from tests.specs.conftest import unavailable

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "lint-specs"
BIN = TOOLS / "node_modules" / ".bin"
#: The brokers the bank's AsyncAPI documents are linted for: the embedded default and one with users.
BROKERS = {"embedded": None, "rabbitmq": "amqp://bank:secret@rabbitmq.bank.example:5672/bank?namespace=bank"}


def _documents(tmp_path: Path, broker: str | None) -> list[Path]:
    api = ApiSettings(servers=("https://api.bank.example",))
    write_bundle(load_domains("examples.bank"), tmp_path, "The bank", broker=broker, api=api)
    return sorted([*tmp_path.glob("*/openapi.json"), *tmp_path.glob("*/asyncapi.json")])


def _tool(name: str) -> Path:
    tool = BIN / name
    if not tool.exists():
        unavailable(f"{name} is not installed: run `make lint-specs-tools` (npm ci --prefix tools/lint-specs)")
    return tool


def _json_objects(text: str) -> list[Any]:
    """Every JSON value printed one after the other (Redocly prints one per file)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, end = decoder.raw_decode(text, at)
        found.append(value)
        at = end
    return found


@pytest.mark.parametrize("broker", list(BROKERS), ids=list(BROKERS))
def test_spectral_finds_no_error_and_no_warning(tmp_path: Path, broker: str) -> None:
    """Spectral's oas and asyncapi rulesets report nothing above "info" on any bank document."""
    files = _documents(tmp_path, BROKERS[broker])
    done = subprocess.run(
        [str(_tool("spectral")), "lint", "-r", str(TOOLS / ".spectral.yaml"), "-f", "json", *map(str, files)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    results = json.loads(done.stdout or "[]")
    # Severity 0 is an error, 1 a warning; 2 (information) and 3 (hint) are advice, not findings.
    found = [f"{r['source']}: {r['code']} at {'.'.join(map(str, r['path']))}: {r['message']}" for r in results
             if r["severity"] <= 1]  # fmt: skip
    assert found == [], "\n".join(found)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("broker", list(BROKERS), ids=list(BROKERS))
def test_redocly_recommended_finds_no_error_and_no_warning(tmp_path: Path, broker: str) -> None:
    """Redocly's recommended ruleset reports no error and no warning on any bank document."""
    files = _documents(tmp_path, BROKERS[broker])
    done = subprocess.run(
        [str(_tool("redocly")), "lint", "--config", str(TOOLS / "redocly.yaml"), "--format=json", *map(str, files)],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    reports = _json_objects(done.stdout)
    assert len(reports) == len(files), done.stderr[-2000:]
    found = [
        f"{p['location'][0]['source']['ref']}: {p['ruleId']} ({p['severity']}) at {p['location'][0].get('pointer')}: "
        f"{p['message']}"
        for report in reports
        for p in report["problems"]
    ]
    assert found == [], "\n".join(found)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_broker_with_users_documents_how_to_authenticate(tmp_path: Path) -> None:
    """On RabbitMQ every AsyncAPI document's server names its security scheme (Redocly's security-defined is
    off for AsyncAPI only because the embedded broker has none), and no document shows the password."""
    for path in _documents(tmp_path, BROKERS["rabbitmq"]):
        if path.name == "asyncapi.json":
            document = json.loads(path.read_text())
            [server] = document["servers"].values()
            assert server["security"] == [{"$ref": "#/components/securitySchemes/userPassword"}], path
            assert "secret" not in path.read_text()
