"""The bank landscape with API keys on, configured only as docs/api.md says: every fetch-back succeeds.

One ``interlink run examples.bank --http 127.0.0.1:<any port> --api-keys keys.json`` process, with the
credential of the ``customer`` External Service in ``INTERLINK_SERVICE_CUSTOMER_API_KEY``. The producer runs
in the same process, so the fetch-backs go to this process's own address (not the declaration's port 8000).
Without the credential, start-up warns.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
KEY = "landscape-key-0123456789abcdef"
DOMAINS = ("customer", "loan-request", "credit-offer", "risk-assessment", "customer-communication", "payments")
T = TypeVar("T")


def _until(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.1)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _bank(tmp_path: Path, port: int, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The six domains in one process with API keys on; yields it and the lines it printed so far."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({KEY: {"subject": "landscape", "scopes": []}}))
    args = [
        INTERLINK, "run", "examples.bank",
        "--store", f"sqlite:///{tmp_path}/{{domain}}.db", "--broker", f"sqlite:///{tmp_path}/broker.db",
        "--http", f"127.0.0.1:{port}", "--api-keys", str(keys),
    ]  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    # Wide enough that no log line is folded, so each reads as one line.
    # Run in tmp_path (the customer domain's inbound folder is relative), importing the examples from ROOT.
    base |= {"NO_COLOR": "1", "COLUMNS": "400", "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.Popen(args, cwd=tmp_path, env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:

        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        _until(up, 90, "the landscape to be ready")
        yield proc, lines
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        lines.extend(output.splitlines())


def _dead_letters(tmp_path: Path) -> int:
    total = 0
    for domain in DOMAINS:
        path = tmp_path / f"{domain}.db"
        if path.exists():
            with closing(sqlite3.connect(path)) as db:
                total += db.execute("SELECT count(*) FROM interlink_dead_letters").fetchone()[0]
    return total


def test_fetch_backs_succeed_with_api_keys_on(tmp_path: Path) -> None:
    """Customers registered and moved over the protected API reach loan-request and risk-assessment through
    fetch-backs that carry the configured key: loan requests are accepted, scores are fresh, no dead letter."""
    port = _free_port()
    with _bank(tmp_path, port, {"INTERLINK_SERVICE_CUSTOMER_API_KEY": KEY}) as (_, lines):
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}, trust_env=False)
        assert httpx.get(f"http://127.0.0.1:{port}/customer/customers/C1", trust_env=False).status_code == 401
        for n in range(1, 6):
            customer = {"id": f"C{n}", "name": f"Customer {n}", "email": f"c{n}@bank.example"}
            assert api.post("/customer/customers", json=customer).status_code == 201
            moved = api.put(
                f"/customer/customers/C{n}/address", json={"street": "Main 1", "postcode": "9000", "city": "X"}
            )
            assert moved.status_code == 200, moved.text

        def submitted(n: int) -> httpx.Response | None:
            loan = {"id": f"L{n}", "customer_id": f"C{n}", "amount": 1000, "term_months": 12, "purpose": "car"}
            response = api.post("/loan-request/loan-requests", json=loan)
            return None if response.status_code == 422 else response

        for n in range(1, 6):
            accepted = _until(functools.partial(submitted, n), 60, f"customer C{n} to be known to loan-request")
            assert accepted.status_code == 201, accepted.text
            score = api.get(f"/risk-assessment/scores/C{n}", params={"amount": 1000})
            assert score.status_code == 200, score.text
            assert score.json()["stale"] is False, "the profile was fetched back, not served stale"
        api.close()
        assert _dead_letters(tmp_path) == 0
    text = "\n".join(lines)
    assert f"external service 'customer' at http://127.0.0.1:{port}/customer (from this process)" in text, text
    assert "no credential" not in text, text


def test_start_up_warns_of_a_service_without_credential(tmp_path: Path) -> None:
    """With API keys on and no INTERLINK_SERVICE_CUSTOMER_API_KEY / _TOKEN, start-up names what to set."""
    with _bank(tmp_path, _free_port(), {}) as (_, lines):
        pass
    text = "\n".join(lines)
    for domain in ("loan-request", "risk-assessment"):
        warning = (
            f"{domain}: external service 'customer' has no credential while authentication is on: "
            "set INTERLINK_SERVICE_CUSTOMER_API_KEY or INTERLINK_SERVICE_CUSTOMER_TOKEN"
        )
        assert warning in text, text
