"""Producer and consumer domains in separate processes, as a deployment runs them (used by ``brokers.py``).

Two layouts, each a child process per domain started with ``python bench/brokers_split.py ROLE CONFIG``
and driven over its stdin/stdout (one JSON line each way):

- ``split``: the consumer process starts, then the producer process; on "go" the producer runs N commands
  (its relay publishing them) and the consumer waits for its N-th effect. Timed from the first command to
  the N-th effect committed, across the two processes (wall clock of this one machine).
- ``consume``: a consumer process makes its subscriptions and exits; the producer process runs N commands
  and exits once its outbox is empty (all N published); then the consumer process starts, and is timed
  from the end of its start-up (the messages it handled by then not counted) until its N-th effect
  committed: the consume side alone (an aggregate write and an inbox mark per message, acked after the
  commit).

CPU per event is measured per process: each Python process's own user + system time, the PostgreSQL
backends of its store (found by ``application_name`` in ``pg_stat_activity``, read from /proc), and the
broker server's process (nats-server, redis-server, beam.smp), all over the timed interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from landscape import LANDSCAPES  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SERVERS = {"nats": "nats-server", "redis": "redis-server", "rabbitmq": "beam.smp"}


@dataclass
class SplitRun:
    """One run of a layout: its events, seconds, and CPU seconds per process over the timed interval."""

    events: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)  # producer, consumer, producer db, consumer db, broker
    produced: float = 0.0  # split: seconds from the first command to the last command returned

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def per_event(self, what: str) -> float:
        """Microseconds of CPU per event of one process (or of all of them, ``sum``)."""
        seconds = sum(self.cpu.values()) if what == "sum" else self.cpu.get(what, 0.0)
        return seconds / self.events * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def server_pid(broker: str) -> int | None:
    """The broker server's process on this machine, if it runs here."""
    if broker not in SERVERS:  # an embedded broker: its work is in the Python processes
        return None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == SERVERS[broker]:
                    return int(proc.name)
            except OSError:
                continue
    return None


def _on_postgres(config: dict[str, Any]) -> bool:
    return str(config["store"]).startswith("postgresql")


def _store_url(config: dict[str, Any], app: str) -> str:
    """The store URL, named ``app`` in ``pg_stat_activity`` on PostgreSQL (an embedded store has no backend)."""
    return f"{config['store']}&application_name={app}" if _on_postgres(config) else str(config["store"])


async def backends(application_name: str | None) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend of one store, by pid (none for an embedded store)."""
    from brokers import _pg

    if application_name is None:
        return {}

    conn = await _pg()
    try:
        pids = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", application_name)
    finally:
        await conn.close()
    return {r[0]: cpu_seconds(r[0]) for r in pids}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two samples; a backend born in between counts from zero."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# -- the child processes -----------------------------------------------------------------------------


def _say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def _line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


async def producer(config: dict[str, Any]) -> None:
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES[config.get("landscape", "minimal")]()
    app = f"{config['ns']}_p" if _on_postgres(config) else None
    settings = Settings(store_url=_store_url(config, str(app)), broker_url=config["broker"])
    async with Runtime([land.producer], settings) as rt:
        domain = rt[land.producer.name]
        _say(ready=True)
        if config["wait"]:
            await _line()
        db, cpu, started = await backends(app), time.process_time(), time.time()
        numbers = iter(range(config["events"]))

        async def drive() -> None:
            for i in numbers:  # shared iterator: every worker takes the next number
                await domain.execute(land.command, land.input(i))

        await asyncio.gather(*(drive() for _ in range(config["concurrency"])))
        produced = time.time()
        while (await domain.store.outbox_status()).pending:  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.01)
        published, cpu = time.time(), time.process_time() - cpu
        _say(started=started, produced=produced, published=published, cpu=cpu, db=spent(db, await backends(app)))


async def consumer(config: dict[str, Any]) -> None:
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES[config.get("landscape", "minimal")]()
    app = f"{config['ns']}_c" if _on_postgres(config) else None
    settings = Settings(
        store_url=_store_url(config, str(app)),
        broker_url=config["broker"],
        consumers_per_domain=config["consumers"],
    )
    async with Runtime([land.consumer], settings) as rt:
        domain = rt[land.consumer.name]
        # The consume side alone is timed from the end of its start-up, on the messages handled since.
        early = sum(c.stats.processed for c in domain.consumers)
        db, cpu, started = await backends(app), time.process_time(), time.time()
        names = {
            "subscriptions": [c.subscription.name for c in domain.consumers],
            "channels": sorted({ch for c in domain.consumers for ch in c.subscription.channels}),
        }
        if config.get("declare"):  # subscriptions made, so what is published meanwhile waits for the consumer
            _say(names=names)
            return
        if config["wait"]:
            _say(ready=True, names=names)
            await _line()
            db, cpu = await backends(app), time.process_time()
        deadline = time.perf_counter() + config["patience"]
        while (done := sum(c.stats.processed for c in domain.consumers)) < config["events"]:
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.005)
        finished, cpu = time.time(), time.process_time() - cpu
        stats = [c.stats for c in domain.consumers]
        errors = sum(sum(s.errors.values()) + s.dead_lettered for s in stats)
        db_cpu = spent(db, await backends(app))
        _say(started=started, finished=finished, cpu=cpu, db=db_cpu, done=done, early=early, errors=errors)
        if not config["wait"]:
            _say(names=names)


# -- the parent --------------------------------------------------------------------------------------


class Child:
    """One child process speaking JSON lines: ``script`` (this one by default) run with a role and a config."""

    def __init__(self, role: str, config: dict[str, Any], script: str = __file__) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, role, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"child process ended with {self.proc.wait()} before saying what it did")
        return dict(json.loads(line))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_split(config: dict[str, Any], layout: str, names: dict[str, set[str]]) -> tuple[SplitRun, int]:
    """Run one layout; returns the run and the consumer's count of errors (verification is the caller's)."""
    server = server_pid(config["kind"])
    children: list[Child] = []
    try:
        if layout == "split":
            cons = Child("consumer", config | {"wait": True})
            children.append(cons)
            _note(names, cons.read())
            prod = Child("producer", config | {"wait": True})
            children.append(prod)
            prod.read()
            broker_cpu = cpu_seconds(server) if server else 0.0
            prod.send("go")
            cons.send("go")
            p, c = prod.read(), cons.read()
            started = p["started"]
        else:
            declare = Child("consumer", config | {"wait": False, "declare": True})
            children.append(declare)
            _note(names, declare.read())
            declare.finish()
            prod = Child("producer", config | {"wait": False})
            children.append(prod)
            prod.read()
            p = prod.read()
            broker_cpu = cpu_seconds(server) if server else 0.0
            cons = Child("consumer", config | {"wait": False})
            children.append(cons)
            c = cons.read()
            _note(names, cons.read())
            started = c["started"]
        broker_cpu = (cpu_seconds(server) - broker_cpu) if server else 0.0
        cpu = {"consumer": c["cpu"], "consumer db": c["db"], "broker": broker_cpu}
        if layout == "split":
            cpu |= {"producer": p["cpu"], "producer db": p["db"]}
        if c["done"] < config["events"]:
            raise RuntimeError(f"only {c['done']} of {config['events']} effects after {config['patience']:.0f}s")
        produced = p["produced"] - started if layout == "split" else 0.0
        return SplitRun(config["events"] - c["early"], c["finished"] - started, cpu, produced), int(c["errors"])
    finally:
        for child in children:
            child.finish()


def _note(names: dict[str, set[str]], said: dict[str, Any]) -> None:
    for key, values in said.get("names", {}).items():
        names[key].update(values)


if __name__ == "__main__":
    from interlink.runtime.loop import run

    role, raw = sys.argv[1], json.loads(sys.argv[2])
    # On asyncio's loop by default, as the raw side; "uvloop" as `interlink run` with interlink[fast].
    run(producer(raw) if role == "producer" else consumer(raw), choice=raw.get("loop", "asyncio"))
