"""The bank's saga-end command refuses a SagaState whose data is not its saga's: invalid input (422 over
HTTP), never a KeyError (500), and nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from examples.bank.loan_origination import origination_ended
from examples.bank.loan_request import loan_request

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import InvalidInput
from interlink.patterns.api_exposure.problems import STATUS
from interlink.patterns.command_events.sagas import SagaState, SagaStatus
from interlink.runtime import DomainRuntime


async def test_a_saga_state_without_its_data_is_invalid_input() -> None:
    """``{"data": {}}`` (schema-valid for SagaState) is InvalidInput naming the saga; no write, no message."""
    now = datetime.now(UTC)
    state = SagaState(
        id="S1", name="loan-origination", status=SagaStatus.COMPLETED, step=2, data={"other": 1},
        correlation_id="c1", started_at=now, deadline=now,
    )  # fmt: skip
    async with MemoryStore(domain=loan_request.name) as store:
        runtime = DomainRuntime(loan_request, store, MemoryBroker())
        with pytest.raises(InvalidInput, match="saga S1: its data is not an Origination"):
            await runtime.execute(origination_ended, state)
        assert (await store.outbox_status()).pending == 0
    assert next(status for cls, status, _ in STATUS if issubclass(InvalidInput, cls)) == 422
