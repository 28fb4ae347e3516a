"""The six bank domains as `interlink run MODULE --http 127.0.0.1:PORT` processes, supervised like a service
manager would: SIGKILL on demand, restart, and a restart (recorded as a crash) of any process that ended on its
own. Each incarnation writes its output to a log file of its own, kept as evidence."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from interlink.testing.waiting import wait_until
from tests.faults.support import subprocess_env

__all__ = ["MODULES", "Bank", "Crash"]

ROOT = Path(__file__).resolve().parents[3]
INTERLINK = str(Path(sys.executable).with_name("interlink"))
#: Domain name -> module under examples.bank.
MODULES = {
    "customer": "customer",
    "loan-request": "loan_request",
    "credit-offer": "credit_offer",
    "risk-assessment": "risk_assessment",
    "customer-communication": "customer_communication",
    "payments": "payments",
}


#: The bank runs on a shorter time scale than the defaults (30 s each): a delivery a SIGKILL left unacked comes
#: back after 10 s, an open circuit tries again after 4 s, a backoff tops out at 5 s. The same mechanisms fire
#: (redelivery, the circuit's probe, capped backoff), sooner, so the landscape settles in seconds after the
#: faults instead of waiting out 30-second timers (60 s on RabbitMQ, whose retry queues round 31 s up to 60).
TIME_SCALE = {
    "INTERLINK_VISIBILITY_TIMEOUT": "10",
    "INTERLINK_CIRCUIT_COOLDOWN": "4",
    "INTERLINK_RETRY_MAX_DELAY": "5",
}

#: Ports below the kernel's ephemeral range (32768-60999 by default): a port a domain holds is free again while
#: the domain is down, and a port the kernel hands out for ``bind(0)`` or an outgoing connection could take it.
PORTS = range(20_000, 32_000)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports outside the ephemeral range that nothing listens on now."""
    chosen: list[int] = []
    for port in random.SystemRandom().sample(PORTS, k=200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise OSError(f"no {count} free ports in {PORTS}")


@dataclass(frozen=True)
class Crash:
    """A process that ended without the harness asking (or a SIGTERM that did not end with exit 0)."""

    domain: str
    code: int | None
    log: Path

    def describe(self) -> str:
        """The domain, its exit code and the last lines it wrote."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        tail = " | ".join(line.strip() for line in text.splitlines()[-12:] if line.strip())
        return f"{self.domain} exited {self.code} ({self.log.name}): {tail[-1500:]}"


class Bank:
    """The six processes working in ``workdir`` on ``store`` (with ``{domain}``) and ``broker``."""

    def __init__(self, store: str, broker: str, workdir: Path) -> None:
        self.store, self.broker, self.workdir = store, broker, workdir
        self.urls = {
            name: f"http://127.0.0.1:{port}" for name, port in zip(MODULES, _free_ports(len(MODULES)), strict=True)
        }
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # COLUMNS: the console log wraps at 80 columns otherwise, which makes the evidence hard to read.
        env = subprocess_env(INTERLINK_SERVICE_CUSTOMER_URL=self.urls["customer"], COLUMNS="200", **TIME_SCALE)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.log_of: dict[str, Path] = {}
        self.kills: Counter[str] = Counter()
        self.starts: Counter[str] = Counter()
        self.crashes: list[Crash] = []
        #: Set whenever a process is started again (after a kill or a crash).
        self.restarted = asyncio.Event()

    def start(self, name: str) -> None:
        """Start the domain's process (a new incarnation, with its own log file)."""
        self.starts[name] += 1
        log = self.logs / f"{name}.{self.starts[name]:02d}.log"
        where = self.urls[name].removeprefix("http://")
        command = [INTERLINK, "run", f"examples.bank.{MODULES[name]}", "--store", self.store, "--broker",
                   self.broker, "--http", where, "--log-level", "warning"]  # fmt: skip
        with log.open("wb") as out:
            self.running[name] = subprocess.Popen(
                command, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.log_of[name] = log
        if self.starts[name] > 1:
            self.restarted.set()

    def kill(self, name: str) -> None:
        """SIGKILL the domain's process and reap it; it stays down until :meth:`start`."""
        proc = self.running.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.kills[name] += 1
        else:
            self.crashes.append(Crash(name, proc.returncode, self.log_of[name]))
        proc.wait()

    def ended_by_themselves(self) -> list[str]:
        """Domains whose process ended although nobody killed it: recorded as crashes, left down."""
        ended = [name for name, proc in self.running.items() if proc.poll() is not None]
        for name in ended:
            proc = self.running.pop(name)
            self.crashes.append(Crash(name, proc.returncode, self.log_of[name]))
        return ended

    def stop_all(self) -> None:
        """SIGTERM every process; one that does not exit 0 within a minute is recorded as a crash."""
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in list(self.running.items()):
            try:
                code: int | None = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            if code != 0:
                self.crashes.append(Crash(name, code, self.log_of[name]))
        self.running.clear()

    def kill_all(self) -> None:
        """SIGKILL whatever still runs (the test's last word, whatever happened before)."""
        for proc in self.running.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.running.clear()

    async def healthy(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every running domain answers ``/healthz``."""
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:

            async def answering() -> bool:
                for name in list(self.running):
                    try:
                        if (await http.get(f"{self.urls[name]}/healthz")).status_code != 200:
                            return False
                    except httpx.TransportError:
                        return False
                return True

            await wait_until(answering, timeout=timeout, interval=0.2, what="the bank's domains to answer /healthz")
