"""Command events and sagas between two runtimes (one per domain) on every store x broker pair."""

from __future__ import annotations

import pytest

from interlink.patterns.command_events import load_saga
from interlink.patterns.command_events.sagas import SagaState
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.command_events_app import (
    Journal,
    Notice,
    Notify,
    Sms,
    StartOrigination,
    lending,
    notify,
    originate,
    partner,
)

N = 100


def _settings(backends: Backends) -> Settings:
    return Settings(store_url=backends.store, broker_url=backends.broker, relay_poll_interval=0.1, fetch_wait=0.1)


async def _all(runtime: Runtime, domain: str, kind: str) -> list[str]:
    found = await runtime[domain].store.list_aggregates(kind, where={}, after=None, limit=10 * N)
    return [stored.data for _, stored in found]


async def test_commands_sent_while_the_target_is_down_run_once_and_every_confirmation_returns(
    backends: Backends,
) -> None:
    """100 SendSms sent while partner is stopped each run once when it is back; lending gets 100 confirmations."""
    settings = _settings(backends)
    async with Runtime([partner], settings):
        pass  # the target's subscription exists; then it is down
    async with Runtime([lending], settings) as issuer:
        for i in range(N):
            await issuer["lending"].execute(notify, Notify(sms_id=f"S{i:03d}"))

        async def sent() -> bool:
            return (await issuer["lending"].store.outbox_status()).pending == 0

        await wait_until(sent, 30, what="the commands relayed to the broker")
        assert await _all(issuer, "lending", "Notice") == []

        async with Runtime([partner], settings) as target:

            async def confirmed() -> bool:
                return len(await _all(issuer, "lending", "Notice")) == N

            await wait_until(confirmed, 120, interval=0.2, what=f"{N} confirmations")
            sms = [Sms.model_validate_json(d) for d in await _all(target, "partner", "Sms")]

        notices = [Notice.model_validate_json(d) for d in await _all(issuer, "lending", "Notice")]
        assert sorted(s.id for s in sms) == [f"S{i:03d}" for i in range(N)]
        assert {s.runs for s in sms} == {1}
        assert {(n.outcome, n.confirmed_runs, n.replies) for n in notices} == {("confirmed", 1, 1)}
        assert await _all(issuer, "lending", "~request") == []


@pytest.mark.parametrize("silent", [False, True], ids=["failure", "timeout"])
async def test_a_third_step_that_fails_or_times_out_compensates_two_then_one_once(
    backends: Backends, silent: bool
) -> None:
    """Step 3 fails (or its reply never comes): CloseAccount then ReleaseCredit run once each, in that order."""
    settings = _settings(backends)
    async with Runtime([partner], settings) as target, Runtime([lending], settings) as issuer:
        saga_id = await issuer["lending"].execute(
            originate, StartOrigination(ref=f"R-{silent}", mode="ok" if silent else "fail", silent=silent)
        )

        async def ended() -> SagaState | None:
            state = await load_saga(issuer["lending"].store, saga_id)
            return state if state and state.status.ended else None

        state = await wait_until(ended, 60, interval=0.1, what="the saga's end")
        stored = await target["partner"].store.load("Journal", f"R-{silent}")
        assert stored is not None
        assert Journal.model_validate_json(stored.data).entries == ["reserve", "open", "close", "release"]
        assert state.status.value == "compensated"
        assert state.reason is not None
        assert state.reason.startswith("step 3 timed_out" if silent else "step 3 failed")
        assert [e.what for e in state.history].count("compensation confirmed") == 2
