"""schemathesis, every check and every phase (stateful links included), over each of the six bank domains
served by one real ``interlink run examples.bank --http`` process with API keys on: zero failures.

Bounded (a few examples per operation, a fixed seed) so the whole module takes about a minute. What the
checks accept beyond their defaults, and why, is in ``schemathesis.toml`` beside this file.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from examples.bank import DOMAINS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "schemathesis-key-0123456789abcdef"


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The six bank domains in one `interlink run --http` process (API keys on), until the module ends."""
    folder = tmp_path_factory.mktemp("bank")
    port = _free_port()
    (folder / "keys.json").write_text(json.dumps({KEY: {"subject": "fuzzer", "scopes": []}}))
    args = [
        str(BIN / "interlink"), "run", "examples.bank",
        "--store", f"sqlite:///{folder}/{{domain}}.db", "--broker", f"sqlite:///{folder}/broker.db",
        "--http", f"127.0.0.1:{port}", "--api-keys", str(folder / "keys.json"), "--log-level", "error",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    env |= {"NO_COLOR": "1", "PYTHONPATH": str(ROOT), "INTERLINK_SERVICE_CUSTOMER_API_KEY": KEY}
    log = (folder / "bank.log").open("w")
    proc = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (folder / "bank.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the bank did not come up within 90 s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (folder / "bank.log").read_text(), (folder / "bank.log").read_text()[-4000:]


@pytest.mark.parametrize("domain", [d.name for d in DOMAINS])
def test_schemathesis_finds_no_failure(bank_url: str, domain: str, tmp_path: Path) -> None:
    """All checks over the domain's served document, in every phase, find nothing."""
    # fmt: off
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{bank_url}/{domain}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "8",
            "--seed",
            "20261207",
            "--workers",
            "1",
            "--no-shrink",
            "--generation-allow-x00",
            "false",
            "--request-timeout",
            "20",
            "--header",
            f"X-API-Key: {KEY}",
        ],
        cwd=tmp_path,
        env=os.environ | {"NO_PROXY": "127.0.0.1,localhost", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    # fmt: on
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-8000:]
    assert " passed" in report, report[-4000:]
    assert "Stateful" in report, "the stateful phase ran (links between operations)"
