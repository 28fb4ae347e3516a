"""`interlink run --log-format json`: every line one JSON object; a dead letter's line carries its ids and traceback."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from interlink.adapters.stores.sqlite import SqliteStore
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until

from .apps.fault_app import payment, record_payment
from .support import INTERLINK, subprocess_env


@pytest.mark.faults
async def test_a_dead_letter_is_logged_as_one_json_line_with_its_ids_and_traceback(tmp_path: Path) -> None:
    """A poison payment parked by a receipt process logging JSON: every line parses; the dead letter's names it."""
    store, broker = f"sqlite:///{tmp_path}/{{domain}}.db", f"sqlite:///{tmp_path}/broker.db"
    log_file = tmp_path / "receipt.log"
    command = [str(INTERLINK), "run", "fault_app:receipt", "--store", store, "--broker", broker]
    command += ["--log-format", "json", "--retry-attempts", "2", "--retry-base-delay", "0.01"]
    with log_file.open("w") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 - a long-running process, waited on below without blocking
            command, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=tmp_path
        )
    try:
        # The embedded broker fans out at publish time: the receipt's subscription must exist first.
        await wait_until(lambda: '"running receipt"' in log_file.read_text(), timeout=60, what="the receipt runtime")
        settings = Settings(store_url=store, broker_url=broker, relay_poll_interval=0.1)
        async with Runtime([payment], settings) as rt:
            await rt["payment"].execute(record_payment, {"id": "P-poison", "amount": 1, "poison": True})
            await rt["payment"].relay.publish_pending()
        async with SqliteStore(store.format(domain="receipt"), domain="receipt") as receipts:

            async def parked() -> bool:
                return bool(await receipts.dead_letters())

            await wait_until(parked, timeout=60, what="the poison payment parked by the receipt process")
            (letter,) = await receipts.dead_letters()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert proc.returncode == 0, lines
    parked_lines = [line for line in lines if line["message"].startswith("dead letter")]
    assert len(parked_lines) == 1, lines
    (line,) = parked_lines
    assert line["level"] == "error"
    assert line["message_id"] == letter.message_id
    assert line["subscription"] == letter.subscription
    assert "RuntimeError" in line["exception"]
    assert "Traceback" in line["exception"]
    retries = [line for line in lines if line["message"].startswith("retry")]
    assert retries, lines
    assert all(r["message_id"] == letter.message_id for r in retries)
