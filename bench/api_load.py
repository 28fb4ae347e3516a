"""The load generators of ``bench/api.py``: ``wrk`` (C, driven by ``api_orders.lua``) and an httpx one.

Both send ``POST /orders`` with a body ``PlaceOrder`` takes and an order id of its own per request, over
``concurrency`` keep-alive connections, each connection sending its next request as soon as the previous one
answered. Both return a :class:`Load`: what was answered 200, how long it took, the latency percentiles,
the CPU the generator spent, and the ids of requests sent but not waited for (wrk stops at the end of its
duration with up to ``concurrency`` in flight; the verification looks those up in the server's files).

The httpx generator runs in the calling process and costs ~1.2-2.6 ms of CPU per request, which on a
2-core machine caps it near 1,000 requests/s, about what the bare endpoint serves; wrk costs ~50-130 us,
so with it the servers, not the generator, set the rate.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

LUA_SCRIPT = Path(__file__).resolve().with_name("api_orders.lua")


class LoadFailed(Exception):
    """A request failed (non-200, socket error or timeout), or the generator could not run."""


@dataclass(frozen=True)
class Load:
    """What one timed phase sent and got back."""

    ok: int  # requests answered 200
    seconds: float  # wall time of the timed phase
    p50: float  # latency of one request as the generator sees it, seconds
    p99: float
    client_cpu_seconds: float  # CPU the generator spent over the timed phase
    unanswered: tuple[str, ...] = ()  # ids sent whose answer was not waited for


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _body(i: int) -> bytes:
    return json.dumps({"id": f"O{i:08d}", "customer_id": f"C{i % 997:05d}", "sku": "SKU-1", "quantity": 1}).encode()


def _percentile(latencies: list[float], p: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _drive_httpx(url: str, first: int, count: int, concurrency: int) -> tuple[float, list[float]]:
    """Send ``count`` POST /orders over ``concurrency`` connections; (seconds, latency of each request).

    Each connection is its own ``httpx.AsyncClient`` with a pool of one: one client sharing a pool of many
    connections spends milliseconds of CPU per request scanning that pool, and the generator, not the
    server, would be what is measured.
    """
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"content-type": "application/json"}
    work = iter([_body(i) for i in range(first, first + count)])

    async def connection() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as client:
            await client.get("/healthz")  # connect before the clock starts
            connected.append(client)
            if len(connected) == concurrency:
                all_connected.set()
            await go.wait()
            for body in work:  # shared iterator: each connection takes the next request
                started = time.perf_counter()
                response = await client.post("/orders", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    connected: list[httpx.AsyncClient] = []
    all_connected, go = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(connection()) for _ in range(concurrency)]
    await asyncio.wait([asyncio.create_task(all_connected.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED)
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    if failures:
        raise LoadFailed(f"{len(failures)} of {count} requests failed, first: {failures[0]}")
    return seconds, latencies


def drive_httpx(url: str, first: int, count: int, concurrency: int) -> Load:
    """``count`` requests (ids ``O{first:08d}`` on) from this process; every one answered 200 or it raises."""
    cpu = time.process_time()
    seconds, latencies = asyncio.run(_drive_httpx(url, first, count, concurrency))
    cpu = time.process_time() - cpu
    return Load(count, seconds, _percentile(latencies, 50), _percentile(latencies, 99), cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drive_wrk(url: str, seconds: int, concurrency: int, prefix: str = "W") -> Load:
    """Run wrk (one thread) for ``seconds`` against ``url``; raises on any non-200 or socket error.

    The generator's CPU is wrk's own, from ``getrusage(RUSAGE_CHILDREN)`` around it: the only child this
    process reaps meanwhile (the server is reaped after the run).
    """
    wrk = wrk_path()
    if wrk is None:
        raise LoadFailed("wrk is not installed (apt-get install -y wrk)")
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s", "-s", str(LUA_SCRIPT), url]
    cpu = _children_cpu()
    done = subprocess.run([*command, "--", prefix], capture_output=True, text=True, timeout=seconds + 120)
    cpu = _children_cpu() - cpu
    lines = {line.partition(" ")[0]: line.partition(" ")[2] for line in done.stdout.splitlines() if line}
    if done.returncode != 0 or "result" not in lines:
        raise LoadFailed(f"wrk exited with {done.returncode}: {done.stderr.strip()[:500] or done.stdout[-500:]}")
    result = {key: int(value) for key, _, value in (field.partition("=") for field in lines["result"].split())}
    socket_errors = {key: result[key] for key in ("connect", "read", "write", "timeout") if result[key]}
    if result["failed"] or socket_errors:
        raise LoadFailed(
            f"{result['failed']} of {result['requests']} requests answered other than 200 (first: "
            f"{lines.get('first_failure', '').strip() or '-'}); socket errors: {socket_errors or 'none'}"
        )
    if result["ok"] != result["requests"] or result["ok"] == 0:
        # wrk's own count of answers and the script's tally of 200s must agree (and something must be sent).
        raise LoadFailed(f"wrk counted {result['requests']} answers, the script {result['ok']} answered 200")
    unanswered = tuple(lines.get("unanswered", "").split())
    if result["sent"] - result["ok"] != len(unanswered):
        # Every id sent is either answered (its answer names it) or listed as unanswered, none lost between.
        raise LoadFailed(f"{result['sent']} sent, {result['ok']} answered, but {len(unanswered)} ids unanswered")
    return Load(
        ok=result["ok"],
        seconds=result["duration_us"] / 1e6,
        p50=result["p50_us"] / 1e6,
        p99=result["p99_us"] / 1e6,
        client_cpu_seconds=cpu,
        unanswered=unanswered,
    )
