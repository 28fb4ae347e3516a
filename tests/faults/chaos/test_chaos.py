"""The chaos soak: the reference bank as six `interlink run` processes on each PostgreSQL x broker pair and on
SQLite x embedded, under a bounded load through its public interfaces (loan requests and address changes over
HTTP under Idempotency-Keys, retried until acknowledged; branch files dropped into the inbound directory),
while every domain is SIGKILLed in turn and restarted after 0.5-2.5 s and (PostgreSQL) the processes' connections
are terminated. Then it settles and is counted from the stores: every acknowledged operation applied exactly
once, no dead letter, every copy at its source's latest version, every saga ended, every outbox empty.

``INTERLINK_CHAOS_SECONDS`` sets the seconds of faults a pair (default 50), ``INTERLINK_CHAOS_SEED`` the seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Backends

from .config import ChaosConfig
from .processes import MODULES
from .run import chaos_run

CONFIG = ChaosConfig.from_env()

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(CONFIG.budget)]


@pytest.mark.parametrize(
    ("store_url", "broker_url"),
    [("postgres", "rabbitmq"), ("postgres", "nats"), ("postgres", "redis"), ("sqlite", "embedded")],
    indirect=True,
)
async def test_chaos_every_acknowledged_operation_applied_exactly_once(
    backends: Backends, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under SIGKILLs of every domain (and dropped PostgreSQL connections): no bad count, from the stores."""
    run = await chaos_run(backends, tmp_path, CONFIG)
    report = run.describe(f"{backends.store_id} x {backends.broker_id}", CONFIG)
    with capsys.disabled():  # the counts are the soak's output, passed or failed
        print(f"\n{report}")
    # The faults were real: every domain killed, connections terminated on PostgreSQL.
    assert all(run.bank.kills[name] for name in MODULES), report
    assert backends.store_id != "postgres" or any(run.faults.terminated), report
    assert run.tally.bad() == {}, report
    # And the load got through: work of every kind acknowledged.
    assert all(any(op.acknowledged for _, op in ops) for ops in (run.load.loans, run.load.moves)), report
    assert run.load.files, report
