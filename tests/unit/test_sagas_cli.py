"""``interlink sagas list|show`` read the sagas of a domain's store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.cli.main import app
from interlink.patterns.command_events import load_saga
from interlink.patterns.command_events.sagas import SagaStatus
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.waiting import wait_until
from tests.support.command_events_app import StartOrigination, lending, originate, partner

TARGET = "tests.support.command_events_app:lending"


async def _compensated_saga(tmp_path: Path) -> str:
    settings = Settings(fetch_wait=0.05, relay_poll_interval=0.05)
    async with MemoryBroker() as broker:
        issuer = DomainRuntime(
            lending, SqliteStore(f"sqlite:///{tmp_path}/lending.db", domain="lending"), broker, settings
        )
        target = DomainRuntime(
            partner, SqliteStore(f"sqlite:///{tmp_path}/partner.db", domain="partner"), broker, settings
        )
        await issuer.start()
        await target.start()
        try:
            saga_id = await issuer.execute(originate, StartOrigination(ref="cli-1", mode="fail"))

            async def ended() -> bool:
                state = await load_saga(issuer.store, saga_id)
                return state is not None and state.status is SagaStatus.COMPENSATED

            await wait_until(ended, 10, what="the saga compensated")
        finally:
            await issuer.stop()
            await target.stop()
    return saga_id


def test_sagas_list_and_show_print_state_and_history(tmp_path: Path) -> None:
    """list shows the saga's status and reason; show prints its history in order; an unknown id is one line."""
    saga_id = asyncio.run(_compensated_saga(tmp_path))
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    runner = CliRunner()

    listed = runner.invoke(app, ["sagas", "list", TARGET, "--store", store], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    # The table folds long cells to the terminal's width: the id's start and the status fit in theirs.
    assert saga_id[:8] in listed.output
    assert "compensated" in listed.output

    only_running = runner.invoke(app, ["sagas", "list", TARGET, "--store", store, "--status", "running"])
    assert only_running.exit_code == 0, only_running.output
    assert saga_id[:8] not in only_running.output

    shown = runner.invoke(app, ["sagas", "show", TARGET, saga_id, "--store", store], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = " ".join(shown.output.split())
    assert f"{saga_id}: compensated at step 1 (step 3 failed: disbursement refused)" in lines
    history = lines[lines.index("history") :]
    assert history.index("step failed") < history.index("compensation sent") < history.index("│ compensated │")
    assert "cli-1" in lines

    missing = runner.invoke(app, ["sagas", "show", TARGET, "nope", "--store", store])
    assert missing.exit_code == 2
    assert "no saga 'nope'" in missing.output
