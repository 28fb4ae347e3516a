"""``interlink console`` and ``interlink run --console`` as subprocesses: served, authenticated, refused open."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlink.console import OPERATE, READ
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.command_events_app import StartOrigination, lending, originate
from tests.support.operations_app import ledger, park_posting
from tests.support.services import fresh_name

INTERLINK = Path(sys.executable).parent / "interlink"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env() -> dict[str, str]:
    """This environment, with the repository importable and no store or broker chosen by the shell."""
    found = {k: v for k, v in os.environ.items() if k not in ("INTERLINK_STORE", "INTERLINK_BROKER")}
    found["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), found.get("PYTHONPATH")) if p)
    return found


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """An API-key file with an operator."""
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"op-key": {"subject": "oscar", "scopes": [READ, OPERATE]}}))
    return path


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started, terminated at its end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


async def serving(url: str) -> bool:
    """Whether ``url`` answers."""
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code < 500
    except httpx.TransportError:
        return False


def test_the_console_refuses_a_non_loopback_address_without_authentication(tmp_path: Path) -> None:
    """``interlink console --http 0.0.0.0:...`` without credentials exits 2 naming the fix."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    done = subprocess.run(
        [str(INTERLINK), "console", "tests.support.operations_app:ledger", "--store", store, "--http", "0.0.0.0:0"],
        capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "without authentication" in done.stderr


async def test_a_watching_console_shows_the_letters_of_a_store_and_replays_them(
    tmp_path: Path, keys: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """``interlink console`` serves the store's letters and the landscape's figures to an API key; a scripted
    discard is refused without a reason, then runs audited."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    async with open_store(store, ledger.name) as s:
        letter = await park_posting(s, "acc", -3)
    port = free_port()
    started.append(
        subprocess.Popen(  # noqa: ASYNC220 - a server, stopped by the fixture
            [
                str(INTERLINK),
                "console",
                "tests.support.operations_app:ledger",
                "--store",
                store,
                "--http",
                f"127.0.0.1:{port}",
                "--api-keys",
                str(keys),
            ],
            env=env(),
            cwd=tmp_path,
        )
    )
    base = f"http://127.0.0.1:{port}/console"
    await wait_until(lambda: serving(f"{base}/login"), timeout=60, what="the console")
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": "op-key"}) as client:
        page = await client.get("/ledger/dead-letters")
        assert page.status_code == 200
        assert "check_amount" in page.text
        assert (await client.get("/ledger/dead-letters", headers={"x-api-key": "wrong"})).status_code == 401
        figures = (await client.get("/landscape/figures")).json()
        (posted,) = [a for a in figures["arrows"] if a["id"] == "ops-bank>ledger:event"]
        assert (posted["dead_letters"], posted["rate"]) == (1, None)  # the bank's store is not read: unknown
        refused = await client.post("/ledger/dead-letters/discard", data={"ids": str(letter.id)})
        assert refused.status_code == 400
        assert "needs a reason" in refused.text
        done = await client.post("/ledger/dead-letters/discard", data={"ids": str(letter.id), "reason": "duplicate"})
        assert done.status_code == 303
        audit = await client.get("/ledger/audit")
    assert "oscar" in audit.text
    assert "duplicate" in audit.text


async def test_a_watching_console_shows_the_rate_a_producer_run_elsewhere_wrote_to_its_store(
    tmp_path: Path, keys: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """Lending runs in this process, starts three sagas and stops; ``interlink console`` on its store, in
    another process, shows the commands' rate on the arrow to the partner (diagram label, table and JSON)."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    async with Runtime([lending], Settings(store_url=store, broker_url=f"memory://{fresh_name('cli')}")) as rt:
        for ref in ("w-1", "w-2", "w-3"):
            await rt["lending"].execute(originate, StartOrigination(ref=ref))
    port = free_port()
    command = [str(INTERLINK), "console", "tests.support.command_events_app:lending", "--store", store]
    started.append(
        subprocess.Popen(  # noqa: ASYNC220 - a server, stopped by the fixture
            [*command, "--http", f"127.0.0.1:{port}", "--api-keys", str(keys)],
            env=env(),
            cwd=tmp_path,
        )
    )
    base = f"http://127.0.0.1:{port}/console"
    await wait_until(lambda: serving(f"{base}/login"), timeout=60, what="the console")
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": "op-key"}) as client:
        figures = (await client.get("/landscape/figures")).json()
        page = (await client.get("/landscape")).text
    arrows = {a["id"]: a for a in figures["arrows"]}
    commands = arrows["lending>partner:command-event"]
    assert (commands["sent"], commands["rate_from"]) == (3, "store")
    assert commands["rate"] > 0
    assert commands["cells"]["rate"] not in ("", "0")
    assert commands["label"].startswith(f"{commands['cells']['rate']}/min · ")
    assert f'<td data-figure="rate">{commands["cells"]["rate"]}</td>' in page
    assert arrows["partner>lending:command-event/reply"]["rate"] is None  # the partner's store is not read


async def test_run_with_console_serves_it_beside_the_apis(
    tmp_path: Path, keys: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """``interlink run --http ... --console`` answers the console at /console and still the probes."""
    port = free_port()
    started.append(
        subprocess.Popen(  # noqa: ASYNC220 - a server, stopped by the fixture
            [
                str(INTERLINK),
                "run",
                "tests.support.operations_app:ledger",
                "--store",
                f"sqlite:///{tmp_path}/{{domain}}.db",
                "--broker",
                f"sqlite:///{tmp_path}/bus.db",
                "--http",
                f"127.0.0.1:{port}",
                "--api-keys",
                str(keys),
                "--console",
            ],
            env=env(),
            cwd=tmp_path,
        )
    )
    base = f"http://127.0.0.1:{port}"
    await wait_until(lambda: serving(f"{base}/console/login"), timeout=60, what="the runtime's console")
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/console/")).headers["location"] == "/console/login"
        status = await client.get("/console/", headers={"x-api-key": "op-key"})
        assert status.status_code == 200
        assert "outbox pending" in status.text
        assert (await client.get("/healthz")).status_code == 200
