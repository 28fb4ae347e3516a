"""Sagas on a Landscape (memory store and broker, manual clock): completion, compensation order, timeouts,
failed compensations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import BaseModel

from interlink import Command, Domain, Step
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure import build_api
from interlink.patterns.command_events import list_sagas, load_saga
from interlink.patterns.command_events.declarations import Outcome, ReplyData
from interlink.patterns.command_events.sagas import SagaStatus, advance, begin
from interlink.ports.store import Store
from interlink.runtime import DomainRuntime
from interlink.testing import Landscape
from tests.support.command_events_app import Journal, Notice, StartOrigination, lending, originate, partner


async def test_the_saga_state_query_serves_a_saga_over_the_api() -> None:
    """A domain with sagas answers GET /sagas/{id} with the saga's state and history, 404 for an unknown id."""
    _, _, store = await _run_saga(StartOrigination(ref="api-1", mode="fail"))
    (state,) = await list_sagas(store)
    host = DomainRuntime(lending, store, MemoryBroker())
    transport = httpx.ASGITransport(app=build_api(lending, lambda: host))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        found = await client.get(f"/sagas/{state.id}")
        missing = await client.get("/sagas/nope")
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["status"], body["data"]["ref"], body["history"][-1]["what"]) == ("compensated", "api-1", "compensated")
    assert missing.status_code == 404


async def _run_saga(start: StartOrigination) -> tuple[str, list[str], Store]:
    """Run a saga to its end on a fresh landscape; its final status, the partner's journal, the issuer store.

    A step sent to the silent domain ends only by its timeout: the landscape's clock is moved past it.
    """
    async with Landscape([lending, partner]) as land:
        saga_id = await land.execute(originate, start)
        await land.settle()
        state = await load_saga(land.store(lending), saga_id)
        if state is not None and not state.status.ended:
            await land.advance(2)  # past the silent step's timeout of 1 s
        state = await load_saga(land.store(lending), saga_id)
        assert state is not None
        assert state.status.ended
        stored = await land.store(partner).load("Journal", start.ref)
        entries = Journal.model_validate_json(stored.data).entries if stored else []
        store = land.store(lending)
    await store.connect()  # what the saga left, read after the landscape stopped
    return state.status.value, entries, store


async def test_a_saga_whose_steps_all_succeed_completes() -> None:
    """Three confirmed steps: the saga is completed, with no compensation run."""
    status, journal, _ = await _run_saga(StartOrigination(ref="ok-1"))
    assert status == "completed"
    assert journal == ["reserve", "open", "disburse"]


async def test_a_failed_third_step_compensates_two_then_one_once_each() -> None:
    """Step 3 fails: CloseAccount then ReleaseCredit run, once each, in that order; the saga is compensated."""
    status, journal, store = await _run_saga(StartOrigination(ref="fail-1", mode="fail"))
    assert status == "compensated"
    assert journal == ["reserve", "open", "close", "release"]
    ended = await store.load("Notice", "saga-fail-1")  # written by the saga's on_end command
    assert ended is not None
    assert Notice.model_validate_json(ended.data).model_dump(include={"outcome", "replies"}) == {
        "outcome": "compensated",
        "replies": 1,
    }
    (state,) = await list_sagas(store)
    assert state.reason == "step 3 failed: disbursement refused"
    assert [e.what for e in state.history] == [
        "started",
        "step sent",
        "step confirmed",
        "step sent",
        "step confirmed",
        "step sent",
        "step failed",
        "compensation sent",
        "compensation confirmed",
        "compensation sent",
        "compensation confirmed",
        "compensated",
    ]


async def test_a_timed_out_third_step_compensates_two_then_one() -> None:
    """Step 3 goes to a domain that never answers: after its timeout, steps 2 then 1 are compensated."""
    status, journal, store = await _run_saga(StartOrigination(ref="silent-1", silent=True))
    assert status == "compensated"
    assert journal == ["reserve", "open", "close", "release"]
    (state,) = await list_sagas(store, status="compensated")
    assert state.reason is not None
    assert state.reason.startswith("step 3 timed_out")


async def test_a_failed_compensation_ends_the_saga_failed_needing_attention() -> None:
    """Step 3 fails and so does the compensation of step 1: the saga ends failed, with both reasons."""
    status, journal, store = await _run_saga(StartOrigination(ref="rf-1", mode="release-fails"))
    assert status == "failed"
    assert journal == ["reserve", "open", "close"]
    (state,) = await list_sagas(store)
    assert state.reason == "step 3 failed: disbursement refused; compensation of step 1 failed: credit already paid out"
    assert state.history[-1].what == "failed: needs attention"


class Data(BaseModel):
    """Saga data of the pure transition tests."""

    ref: str


def _pure_saga() -> tuple[Domain, type[Command], type[Command]]:
    domain = Domain("pure")

    @domain.command_message
    class Do(Command):
        ref: str

    @domain.command_message
    class Undo(Command):
        ref: str

    return domain, Do, Undo


def test_a_stale_or_repeated_reply_changes_nothing() -> None:
    """A reply to a command the saga no longer waits for (a duplicate) leaves the state as it was."""
    domain, do, undo = _pure_saga()
    saga = domain.saga("p", Data, steps=[Step(do, compensate=undo), Step(do)], deadline=timedelta(seconds=9))
    now = datetime.now(UTC)
    state, first = begin(saga, "s", Data(ref="r"), "c", now)
    confirmed = ReplyData(outcome=Outcome.CONFIRMED, command_type="pure.Do")
    second = advance(saga, state, first.command_id, confirmed, now)
    assert second is not None
    before = state.model_copy(deep=True)
    assert advance(saga, state, first.command_id, confirmed, now) is None
    assert state == before
    assert advance(saga, state, second.command_id, confirmed, now) is None
    assert state.status is SagaStatus.COMPLETED


def test_saga_declarations_are_checked() -> None:
    """A saga needs steps and a positive deadline, and its name once per domain."""
    domain, do, _ = _pure_saga()
    with pytest.raises(ConfigurationError, match="no steps"):
        domain.saga("empty", Data, steps=[], deadline=timedelta(seconds=1))
    with pytest.raises(ConfigurationError, match="must be positive"):
        domain.saga("zero", Data, steps=[Step(do)], deadline=timedelta(0))
    domain.saga("once", Data, steps=[Step(do)], deadline=timedelta(seconds=1))
    with pytest.raises(ConfigurationError, match="already declares saga"):
        domain.saga("once", Data, steps=[Step(do)], deadline=timedelta(seconds=1))
