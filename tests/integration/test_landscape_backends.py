"""The test kit's Landscape on every store x broker pair: settle(), the clock and duplicates hold on real
backends, not only in memory."""

from __future__ import annotations

from interlink.testing import Landscape
from tests.integration.conftest import Backends
from tests.support.command_events_app import Notice, Notify, SendPing, lending, notify, partner, ping
from tests.support.notifications import Rename, customer, loans, rename


async def _notice(land: Landscape, id: str) -> Notice | None:
    stored = await land.store(lending).load("Notice", id)
    return Notice.model_validate_json(stored.data) if stored else None


async def test_command_events_settle_with_duplicates_and_deadlines_on_the_clock(backends: Backends) -> None:
    """A command event and its confirmation, every message delivered twice, settle on the pair; a deadline
    fires only when the landscape's clock passes it."""
    async with Landscape([lending, partner], store_url=backends.store, broker_url=backends.broker) as land:
        land.duplicate_next(None)
        await land.execute(notify, Notify(sms_id="s1"))
        await land.execute(ping, SendPing(ping_id="p1", deadline_seconds=30))
        await land.settle()
        confirmed = await _notice(land, "s1")
        assert confirmed is not None
        assert (confirmed.outcome, confirmed.confirmed_runs, confirmed.replies) == ("confirmed", 1, 1)
        assert await _notice(land, "p1") is None
        await land.advance(31)
        timed_out = await _notice(land, "p1")
        assert timed_out is not None
        assert timed_out.outcome == "timed_out"
        assert land["partner"].consumers[0].stats.duplicates >= 1


async def test_a_notification_is_fetched_back_from_the_producer_on_the_pair(backends: Backends) -> None:
    """customer's change reaches loans' copy through the pair's outbox and broker and an in-process fetch."""
    async with Landscape([customer, loans.domain], store_url=backends.store, broker_url=backends.broker) as land:
        await land.execute(rename, Rename(id="42", name="Ada"))
        await land.settle()
        stored = await land.store(loans.domain).load(loans.copy.aggregate_name(), "42")
        assert stored is not None
        assert land.services.calls_to("customer", "/customers/42")
