"""The framework's own records (kinds starting with ``~``) are read-only to domain code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain
from interlink.exceptions import ConfigurationError, RuleViolation
from interlink.patterns.command_events.records import SAGAS
from interlink.patterns.command_events.sagas import SagaState, SagaStatus
from interlink.ports.store import AggregateWrite, ChangeSet
from interlink.testing import Landscape

records = Domain("records")


class SagaRef(BaseModel):
    saga_id: str


@records.command
async def overwrite_saga(ctx: Context, data: SagaRef) -> None:
    """Try to write a saga's state as if it were the domain's own aggregate."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = SagaState(
        id=data.saga_id, name="any", status=SagaStatus.RUNNING, step=0, data={}, correlation_id="c",
        started_at=now, deadline=now,
    )  # fmt: skip
    await ctx.save(state)


@records.command
async def delete_saga(ctx: Context, data: SagaRef) -> None:
    """Try to remove a saga's state."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = SagaState(
        id=data.saga_id, version=1, name="any", status=SagaStatus.RUNNING, step=0, data={}, correlation_id="c",
        started_at=now, deadline=now,
    )  # fmt: skip
    await ctx.delete(state)


@records.command
async def complete_saga(ctx: Context, data: SagaRef) -> None:
    """Read a saga's typed state through the verb, mark it completed, and try to save it."""
    state = await ctx.saga(data.saga_id)
    state.status = SagaStatus.COMPLETED
    await ctx.save(state)


async def test_a_saga_read_by_a_command_cannot_be_saved() -> None:
    """``ctx.saga`` gives a command the typed state; saving it back is refused and the stored state is as it was."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = SagaState(
        id="s2", name="any", status=SagaStatus.RUNNING, step=0, data={}, correlation_id="c", started_at=now,
        deadline=now,
    )  # fmt: skip
    async with Landscape([records]) as land:
        store = land.store(records)
        await store.commit([ChangeSet(writes=[AggregateWrite("~saga", "s2", 0, 1, SAGAS.encode(state))])])
        with pytest.raises(RuleViolation, match=r"'~saga'.*read-only to domain code"):
            await land.execute(complete_saga, SagaRef(saga_id="s2"))
        stored = await SAGAS.get(store, "s2")
        assert stored is not None
        assert (stored.status, stored.version) == (SagaStatus.RUNNING, 1)


@pytest.mark.parametrize("command", [overwrite_saga, delete_saga])
async def test_a_command_cannot_write_a_framework_record(command: object) -> None:
    """ctx.save and ctx.delete of a ~saga record are refused, naming the record, and nothing is written."""
    async with Landscape([records]) as land:
        with pytest.raises(RuleViolation, match=r"'~saga'.*read-only to domain code"):
            await land.execute(command, SagaRef(saga_id="s1"))  # type: ignore[call-overload]
        assert await land.store(records).load("~saga", "s1") is None


def test_a_domain_cannot_declare_an_aggregate_named_like_a_framework_record() -> None:
    """An aggregate may not take a ``~`` name: it would share a table key space with the framework's records."""

    class Sneaky(Aggregate):
        __aggregate_name__ = "~saga"

    with pytest.raises(ConfigurationError, match="framework's own records"):
        Domain("sneaky").aggregate(Sneaky)
