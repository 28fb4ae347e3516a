"""A private redis-server for fault tests: its own port and folder, persistence on, stopped and started at will.

It runs with ``appendonly yes`` and ``appendfsync always``, so what it acknowledged survives a restart,
and it keeps the same port and folder across :meth:`PrivateRedis.stop` and :meth:`PrivateRedis.start`,
so clients reconnect to it as to a server that was restarted. Without ``redis-server`` on the PATH (or at
``/usr/bin/redis-server``) the calling test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PrivateRedis", "TlsFiles", "free_port", "private_redis", "redis_server_binary"]


def redis_server_binary() -> str:
    """The path of redis-server, or skip (fail under CI=true) the calling test."""
    fallback = Path("/usr/bin/redis-server")
    found = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    if found is None:
        message = "redis-server is not installed, so no private Redis can be started"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a TLS server: its certificate and key, and the CA that signed it (and client certs)."""

    cert: Path
    key: Path
    ca: Path


class PrivateRedis:
    """One redis-server process on ``127.0.0.1:<port>`` with its data in ``folder``.

    With ``password`` it requires AUTH; with ``tls`` it speaks TLS only, on ``port``.
    """

    def __init__(
        self, folder: Path, *, port: int | None = None, password: str | None = None, tls: TlsFiles | None = None
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.password = password
        self.tls = tls
        self.binary = redis_server_binary()
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:<port>/0`` (``rediss://`` with TLS)."""
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    def _arguments(self) -> list[str]:
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
            "--protected-mode", "no", "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            args += [
                "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "optional",
            ]  # fmt: skip
        return args

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10) -> None:
        """Start the server (again) on the same port and folder; returns once it accepts connections."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self._arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_file = self.folder / "redis.log"
                log = log_file.read_text()[-2000:] if log_file.exists() else ""
                raise RuntimeError(f"private redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM: Redis flushes its append-only file and exits; killed if it takes longer than ``timeout``."""
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
        """Stop, then start again on the same port and folder."""
        self.stop()
        self.start()

    def _accepts(self) -> bool:
        # A PING in plain text (answered even before AUTH); with TLS, accepting connections is enough.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                if self.tls:
                    return True
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


@contextmanager
def private_redis(folder: Path, *, password: str | None = None, tls: TlsFiles | None = None) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, stopped at the end whatever happens."""
    server = PrivateRedis(folder, password=password, tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()
