"""Worker processes: a parent that keeps one child process per group of domains running.

``interlink run --workers N`` hosts a landscape's domains in N processes, so that they use N cores
instead of sharing one event loop. The parent (:class:`Supervisor`) only supervises; each worker is a
full runtime for its domains, with its own store and broker connections. The rules:

- A worker tells the parent it is running (its runtime started) through a socket pair
  (:class:`ParentLink`). One that exits before that could not start (a configuration error, a
  dependency still down after its start-up wait): the parent stops the others and exits non-zero,
  since starting it again would fail the same way.
- A worker that exits after it was running (a crash, ``kill -9``, the OOM killer) is started again,
  after 1 s, doubling up to 30 s while it keeps dying within a minute. Nothing is lost: what it had
  not acknowledged the broker delivers again, what it had not relayed its outbox still holds.
- SIGTERM or SIGINT to the parent is forwarded as SIGTERM to every worker, which stops gracefully
  (finishing messages in hand, flushing outboxes); the parent exits 0 when every worker did. Another
  signal more than 2 s after the first kills the workers.
- A worker whose parent is gone (killed with ``-9``) sees its end of the socket pair close and stops
  gracefully, so no orphan keeps consuming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

__all__ = ["LINK_ENV", "ParentLink", "Supervisor", "WorkerSpec"]

log = logging.getLogger("interlink.runtime")

#: The environment variable that hands a worker its end of the socket pair (a file descriptor number).
LINK_ENV = "INTERLINK_WORKER_LINK"
_READY = b"r"


@dataclass(frozen=True)
class WorkerSpec:
    """One worker: a name for the logs, its command line, and what to add to its environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


class WorkerFailedToStart(Exception):
    """A worker exited before its runtime was running."""

    def __init__(self, name: str, returncode: int) -> None:
        super().__init__(f"worker {name} exited with {returncode} before it was running")
        self.returncode = returncode


class Supervisor:
    """Start the workers, start again one that dies, forward SIGTERM; :meth:`run` returns the exit code."""

    def __init__(self, specs: Sequence[WorkerSpec], *, restart_delay: float = 1.0, max_delay: float = 30.0):
        self.specs = list(specs)
        self.restart_delay, self.max_delay = restart_delay, max_delay
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._stop = asyncio.Event()
        self._first_signal: float | None = None
        self._holding: set[asyncio.Task[None]] = set()

    async def run(self) -> int:
        """Until SIGTERM/SIGINT (0 when every worker stopped cleanly) or a worker that cannot start (non-zero)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        keeping = [asyncio.create_task(self._keep(spec), name=f"worker {spec.name}") for spec in self.specs]
        stopping = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([*keeping, stopping], return_when=asyncio.FIRST_COMPLETED)
            failed = [t.exception() for t in done if t is not stopping and t.exception() is not None]
            if failed:
                log.error("%s; stopping the other workers", failed[0])
            self._stop.set()
            self._signal_all(signal.SIGTERM)
            codes = await asyncio.gather(*keeping, return_exceptions=True)
        finally:
            stopping.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if failed:
            first = failed[0]
            return (first.returncode or 1) if isinstance(first, WorkerFailedToStart) else 1
        unclean = {s.name: c for s, c in zip(self.specs, codes, strict=True) if c != 0}
        if unclean:
            log.error("workers that did not stop cleanly: %s", unclean)
        return 1 if unclean else 0

    def _on_signal(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._first_signal is None:
            self._first_signal = now
            log.info("stopping the workers gracefully")
            self._stop.set()
            self._signal_all(signal.SIGTERM)
        # Not at once: `timeout`, a shell's Ctrl-C and some supervisors signal the whole process group, so
        # the same stop can reach this process twice in a row.
        elif now - self._first_signal > 2:
            log.warning("second signal: killing the workers")
            self._signal_all(signal.SIGKILL)

    def _signal_all(self, sig: int) -> None:
        for proc in self._procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    async def _keep(self, spec: WorkerSpec) -> int:
        """Run one worker, starting it again whenever it dies after it was running; its last exit code."""
        loop = asyncio.get_running_loop()
        delay = self.restart_delay
        while True:
            proc, ready = await self._spawn(spec)
            if not ready:
                code = await proc.wait()
                if self._stop.is_set():
                    return code
                raise WorkerFailedToStart(spec.name, code)
            log.info("worker %s running (pid %d)", spec.name, proc.pid)
            since = loop.time()
            code = await proc.wait()
            if self._stop.is_set():
                return code
            if loop.time() - since > 60:
                delay = self.restart_delay
            log.error(
                "worker %s (pid %d) exited with %d; starting it again in %.0f s", spec.name, proc.pid, code, delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return code
            delay = min(delay * 2, self.max_delay)

    async def _spawn(self, spec: WorkerSpec) -> tuple[asyncio.subprocess.Process, bool]:
        """Start the worker and wait until it is running (True) or has exited (False)."""
        ours, theirs = socket.socketpair()
        try:
            env = {**os.environ, **spec.env, LINK_ENV: str(theirs.fileno())}
            proc = await asyncio.create_subprocess_exec(*spec.argv, env=env, pass_fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._procs[spec.name] = proc
        if self._stop.is_set():  # the stop came while this worker was being started
            proc.send_signal(signal.SIGTERM)
        log.info("worker %s started (pid %d)", spec.name, proc.pid)
        ours.setblocking(False)
        # ``ours`` stays open while the worker lives: its closing is how a worker learns the parent is gone.
        holding = asyncio.get_running_loop().create_task(_hold(ours, proc))
        self._holding.add(holding)  # a task only weakly referenced by the loop could be collected
        holding.add_done_callback(self._holding.discard)
        try:
            answer = await asyncio.get_running_loop().sock_recv(ours, 1)
        except OSError:
            answer = b""
        return proc, answer == _READY


async def _hold(sock: socket.socket, proc: asyncio.subprocess.Process) -> None:
    try:
        await proc.wait()
    finally:
        sock.close()


class ParentLink:
    """A worker's end of the socket pair: say it is running, and stop when the parent is gone."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> ParentLink | None:
        """The link a supervisor handed this process, or None when it was not started as a worker."""
        # Popped, so that a process this worker starts is not mistaken for a worker of the same parent.
        fd = (os.environ if environ is None else environ).pop(LINK_ENV, None)
        return None if fd is None else cls(socket.socket(fileno=int(fd)))

    def running(self, on_parent_gone: Callable[[], None]) -> None:
        """Tell the parent the runtime is running; call ``on_parent_gone`` once the parent's end closes."""
        try:
            self._sock.sendall(_READY)
        except OSError:
            on_parent_gone()
            return
        self._sock.setblocking(False)
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = self._sock.recv(16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(self._sock.fileno())
                log.warning("the supervising process is gone: stopping")
                on_parent_gone()

        loop.add_reader(self._sock.fileno(), readable)
