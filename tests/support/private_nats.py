"""A private ``nats-server -js`` for fault tests: a free port, a store directory of its own, stop and start.

Stopping sends SIGTERM (JetStream writes its state down and exits); starting again reuses the port and the
store directory, so streams, consumers and unacked deliveries survive the restart as they would in
production. Clients reconnect to the same URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["PrivateNats", "nats_server_binary"]

_CANDIDATES = ("/usr/sbin/nats-server", "/usr/local/bin/nats-server")


def nats_server_binary() -> str:
    """The nats-server executable, or skip (fail under CI=true) the calling test when there is none."""
    found = shutil.which("nats-server") or next((p for p in _CANDIDATES if os.access(p, os.X_OK)), None)
    if found is None:
        message = "nats-server is not installed (apt-get install nats-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateNats:
    """One nats-server process with JetStream, storing in ``store_dir``; ``extra`` arguments go to it as is."""

    def __init__(self, store_dir: Path, *extra: str) -> None:
        self.store_dir = store_dir
        self.port = _free_port()
        self.extra = extra
        self.log = store_dir / "nats-server.log"
        self._binary = nats_server_binary()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server process lives."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10) -> None:
        """Start the server and return once it greets a client with JetStream on."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [self._binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir)]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen([*command, *self.extra], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._greets():
            if not self.running:
                raise RuntimeError(f"nats-server exited at start: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not answer on port {self.port} within {timeout}s")
            time.sleep(0.02)

    def _greets(self) -> bool:
        # The INFO line a NATS server sends first says whether JetStream is on.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return b'"jetstream":true' in sock.recv(4096)
        except OSError:
            return False

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the server and wait for it to exit (SIGKILL if it does not within ``timeout``)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port and store directory."""
        self.stop()
        self.start()

    def __enter__(self) -> PrivateNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
