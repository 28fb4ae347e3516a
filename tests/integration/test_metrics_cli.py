"""`interlink run --metrics HOST:PORT` and `--http HOST:PORT`: a process serves Prometheus text at /metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from interlink.testing.waiting import wait_until
from tests.support.metrics_workload import parse, total

INTERLINK = str(Path(sys.executable).with_name("interlink"))
ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("option", ["--metrics", "--http"])
async def test_a_process_serves_metrics_on_its_metrics_or_http_port(option: str, tmp_path: Path) -> None:
    """`interlink run --metrics HOST:PORT` (no --http) and `interlink run --http HOST:PORT` both answer
    /metrics with Prometheus text holding the sampled outbox gauge."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLINK_")}
    process = subprocess.Popen(  # noqa: ASYNC220 - a server process, read after it stops
        [INTERLINK, "run", "tests.support.ecst_app:loans", "--store", f"sqlite:///{tmp_path}/{{domain}}.db",
         "--broker", f"sqlite:///{tmp_path}/bus.db", option, f"127.0.0.1:{port}", "--log-format", "json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:

        async def scraped() -> str | None:
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                return None
            return response.text if "interlink_outbox_depth" in response.text else None

        text = await wait_until(scraped, 60, what="/metrics on the --metrics port")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    found = parse(text)
    assert total(found, "interlink_outbox_depth", interlink_domain="loan-request") == 0
    assert ("metrics on http://127.0.0.1" in output) == (option == "--metrics")
