"""`interlink run --http` as a user runs it: a real process serving the API, and its refusal to expose an
unauthenticated API beyond this machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[2]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
TARGET = "tests.support.api_app"
NEW_ACCOUNT = {"id": "A1", "holder": "ann", "currency": "EUR"}
SECRET = "cli-secret-for-the-api-tests-0123456789abcdef"


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    """The environment without any INTERLINK_* setting that would change what the command line says."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")} | {"NO_COLOR": "1"}


def _args(tmp_path: Path, http: str, *extra: str) -> list[str]:
    return [
        INTERLINK, "run", TARGET,
        "--store", f"sqlite:///{tmp_path}/{{domain}}.db",
        "--broker", f"sqlite:///{tmp_path}/broker.db",
        "--http", http,
        "--log-level", "warning",
        *extra,
    ]  # fmt: skip


@contextmanager
def running(args: list[str], port: int) -> Iterator[httpx.Client]:
    """Start `interlink run`, wait until its API answers on 127.0.0.1:port, stop it with SIGTERM after."""
    proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.communicate()[0]
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not come up within 60 s"
                time.sleep(0.05)
            yield client
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert "Traceback" not in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_non_loopback_without_auth_is_refused_in_one_line(tmp_path: Path) -> None:
    """`--http 0.0.0.0:PORT` without authentication exits 2 with one line saying what to do."""
    result = subprocess.run(
        _args(tmp_path, f"0.0.0.0:{_free_port()}"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refusing to serve 0.0.0.0" in lines[0]
    assert "--insecure" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_non_loopback_with_insecure_starts_and_serves(tmp_path: Path) -> None:
    """With `--insecure` the same command starts, serves the API openly, and stops cleanly on SIGTERM."""
    port = _free_port()
    with running(_args(tmp_path, f"0.0.0.0:{port}", "--insecure"), port) as client:
        created = client.post("/accounts", json=NEW_ACCOUNT)
        assert created.status_code == 201, created.text
        assert client.get("/accounts/A1").json()["holder"] == "ann"


def test_non_loopback_with_api_keys_starts_and_requires_a_key(tmp_path: Path) -> None:
    """With `--api-keys` a non-loopback address is allowed, and every call needs a known key."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"teller-key-0123456789": {"subject": "teller", "scopes": ["accounts:write"]}}))
    port = _free_port()
    with running(_args(tmp_path, f"0.0.0.0:{port}", "--api-keys", str(keys)), port) as client:
        assert client.post("/accounts", json=NEW_ACCOUNT).status_code == 401
        ok = client.post("/accounts", json=NEW_ACCOUNT, headers={"X-API-Key": "teller-key-0123456789"})
        assert ok.status_code == 201, ok.text
        assert client.get("/accounts/A1", headers={"X-API-Key": "teller-key-0123456789"}).status_code == 403


def test_jwt_options_configure_bearer_authentication(tmp_path: Path) -> None:
    """`--jwt-secret/--jwt-audience/--jwt-issuer` accept a matching HS256 token and refuse another audience."""
    port = _free_port()
    options = ("--jwt-secret", SECRET, "--jwt-audience", "accounts", "--jwt-issuer", "login")
    claims = {"sub": "alice", "aud": "accounts", "iss": "login", "exp": int(time.time()) + 300}
    good = jwt.encode(claims | {"scope": "accounts:write"}, SECRET, "HS256")
    other = jwt.encode(claims | {"aud": "payments", "scope": "accounts:write"}, SECRET, "HS256")
    with running(_args(tmp_path, f"127.0.0.1:{port}", *options), port) as client:
        assert (
            client.post("/accounts", json=NEW_ACCOUNT, headers={"Authorization": f"Bearer {other}"}).status_code == 401
        )
        created = client.post("/accounts", json=NEW_ACCOUNT, headers={"Authorization": f"Bearer {good}"})
        assert created.status_code == 201, created.text
