"""A private RabbitMQ node for fault tests: its own port, node name, data directory and Erlang cookie.

Fault tests stop and start a broker for real; doing that to the shared node on 5672 would break every other
test running against it. This node lives in a temporary directory::

    with PrivateRabbitMq(tmp_path) as node:     # started, answering AMQP on node.port
        ...node.url...
        node.restart()                          # stop the Erlang VM, start it on the same data
        node.restart_app()                      # or only the RabbitMQ application, VM kept

Durable exchanges and queues (quorum queues included) survive both kinds of restart because the data
directory is kept. ``PrivateRabbitMq(path, tls=True)`` also listens for TLS on ``tls_port`` with a
certificate of a throwaway CA (made with the ``openssl`` command), and requires a client certificate.
``config`` adds lines to the node's ``rabbitmq.conf`` (a ``max_message_size``, say).

The node gets a freshly generated Erlang cookie in a private ``HOME`` instead of the system one:
``rabbitmqctl`` run with that ``HOME`` can talk to it, nothing has to read the system node's secret, and
it works for a user who cannot read ``/var/lib/rabbitmq/.erlang.cookie``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["PrivateRabbitMq", "TlsFiles", "answers_amqp", "free_port", "rabbitmq_installed", "require_rabbitmq_server"]

_SBIN = Path("/usr/lib/rabbitmq/bin")
# The first bytes a client sends; a live broker answers with a Connection.Start method frame (type 1).
_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


def rabbitmq_installed() -> bool:
    """True when the RabbitMQ server scripts are installed where this helper looks for them."""
    return (_SBIN / "rabbitmq-server").exists() or shutil.which("rabbitmq-server") is not None


def require_rabbitmq_server() -> None:
    """Skip the calling test when no private RabbitMQ node can be started; under CI=true, fail it instead."""
    if not rabbitmq_installed():
        message = "rabbitmq-server is not installed: cannot start a private RabbitMQ node"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)


def _script(name: str) -> str:
    local = _SBIN / name
    # The /usr/sbin wrappers switch to the rabbitmq user and its HOME, which would lose our cookie.
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, and a server and a client certificate it signed (PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, folder: Path) -> TlsFiles:
        """Create the CA and both certificates in ``folder``; the server one is for localhost/127.0.0.1."""
        folder.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=interlink test CA",
                "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
        (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for name in ("server", "client"):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem")  # fmt: skip
        return cls(*(folder / f for f in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")))


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_amqp(port: int, timeout: float = 1.0) -> bool:
    """True when something on ``port`` answers the AMQP 0-9-1 protocol header with a method frame."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_PROTOCOL_HEADER)
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


class PrivateRabbitMq:
    """One RabbitMQ node of our own, started and stopped by the test that owns it."""

    def __init__(self, base: Path, *, port: int | None = None, tls: bool = False, config: str = "") -> None:
        self.base = base
        self.extra_config = config  # more rabbitmq.conf lines, e.g. "max_message_size = 1048576\n"
        self.port = port or free_port()
        self.dist_port = free_port()
        self.tls = TlsFiles.make(base / "tls") if tls else None
        self.tls_port = free_port() if tls else 0
        self.node = f"rabbit-{uuid.uuid4().hex[:12]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = base / "server.log"
        self._prepare()

    def _prepare(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        home = self.base / "home"
        home.mkdir(exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20).upper())
            cookie.chmod(0o400)  # Erlang refuses a cookie file others can read
        (self.base / "enabled_plugins").write_text("[].\n")
        # Our own config and env files: the system ones pin the listener to 5672 and the node name.
        config = f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        if self.tls is not None:
            config += (
                f"listeners.ssl.local = 127.0.0.1:{self.tls_port}\n"
                f"ssl_options.cacertfile = {self.tls.ca}\nssl_options.certfile = {self.tls.server_cert}\n"
                f"ssl_options.keyfile = {self.tls.server_key}\nssl_options.verify = verify_peer\n"
                "ssl_options.fail_if_no_peer_cert = true\n"
            )
        (self.base / "rabbitmq.conf").write_text(config + self.extra_config)
        (self.base / "rabbitmq-env.conf").write_text("")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.base / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_PID_FILE=str(self.base / "rabbit.pid"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(self.base / "feature_flags"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.base / "plugins-expand"),
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> float:
        """Start the Erlang VM and RabbitMQ; return the seconds until it answered AMQP."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"{self.node} is already running")
        started = time.monotonic()
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [_script("rabbitmq-server")],
                env=self._env(),
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals only, never the test runner's
            )
        self._wait_for_amqp(started, timeout)
        return time.monotonic() - started

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node gracefully (SIGTERM makes the server script run a clean shutdown)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self, timeout: float = 90.0) -> float:
        """Stop the whole VM and start it again on the same data; return the start's seconds."""
        self.stop()
        return self.start(timeout)

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (every connection is closed), keeping the Erlang VM."""
        self.ctl("stop_app")

    def start_app(self, timeout: float = 60.0) -> float:
        """Start the RabbitMQ application again; return the seconds until it answered AMQP."""
        started = time.monotonic()
        self.ctl("start_app", timeout=timeout)
        self._wait_for_amqp(started, timeout)
        return time.monotonic() - started

    def restart_app(self, timeout: float = 60.0) -> float:
        """``stop_app`` then ``start_app``; return the seconds of the start."""
        self.stop_app()
        return self.start_app(timeout)

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -n NODE ARGS`` against this node and return its output."""
        result = subprocess.run(
            [_script("rabbitmqctl"), "-n", self.node, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def _wait_for_amqp(self, started: float, timeout: float) -> None:
        while not answers_amqp(self.port):
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.node} exited with {self._process.returncode}: {self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{self.node} did not answer AMQP within {timeout}s: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output, for failure messages."""
        return self._log.read_text(errors="replace")[-chars:] if self._log.exists() else ""

    def __enter__(self) -> PrivateRabbitMq:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
