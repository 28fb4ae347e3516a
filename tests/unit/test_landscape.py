"""The test kit's Landscape: domains in-process with settle(), a manual clock, faults on demand and
External Services answered by the producer's real API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.exceptions import ConfigurationError
from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.testing import Landscape, ManualClock
from tests.support.command_events_app import Notice, Notify, SendPing, Sms, lending, notify, partner, ping
from tests.support.notifications import Rename, customer, customer_by_id, loans, pricing, rename

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


async def _notice(land: Landscape, id: str) -> Notice | None:
    stored = await land.store(lending).load("Notice", id)
    return Notice.model_validate_json(stored.data) if stored else None


async def _copy(land: Landscape, id: str) -> tuple[str, int] | None:
    stored = await land.store(loans.domain).load(loans.copy.aggregate_name(), id)
    return None if stored is None else (json.loads(stored.data)["name"], json.loads(stored.data)["source_version"])


async def test_settle_waits_for_a_notification_and_its_fetch_back_from_the_producer() -> None:
    """A change in customer reaches loans' copy through the outbox, the broker and a fetch of the producer's
    real query: settle() returns once it is there."""
    async with Landscape([customer, loans.domain]) as land:
        await land.execute(rename, Rename(id="42", name="Ada"))
        await land.execute(rename, {"id": "42", "name": "Ada Lovelace"})
        await land.settle()
        assert await _copy(land, "42") == ("Ada Lovelace", 2)
        assert land.services.calls_to("customer", "/customers/42")
        assert await land.busy() == []


async def test_http_serves_a_domain_api_in_process() -> None:
    """land.http(domain) is an ASGI client of the domain's API; a stopped domain refuses connections."""
    async with Landscape([customer]) as land:
        await land.execute(rename, Rename(id="7", name="Grace"))
        response = await land.http("customer").get("/customers/7")
        assert (response.status_code, response.json()["name"]) == (200, "Grace")
        assert (await land.query(customer_by_id, id="7")).name == "Grace"


async def test_a_retry_waits_for_the_clock_and_fires_when_it_is_advanced() -> None:
    """A fetch refused by the source is retried after a backoff only the test's clock can pass."""
    async with Landscape([customer, loans.domain]) as land:
        land.services.fail("customer", "/customers/42", 503, times=2)  # loans' client makes one attempt a message
        await land.execute(rename, Rename(id="42", name="Ada"))
        await land.settle()
        assert await _copy(land, "42") is None
        assert land.broker.next_due() is not None
        await land.advance(60)  # the second attempt fails too, and waits again
        assert await _copy(land, "42") is None
        await land.advance(60)
        assert await _copy(land, "42") == ("Ada", 1)
        assert len(land.services.calls_to("customer", "/customers/42")) == 3


async def test_a_deadline_times_out_when_the_clock_passes_it() -> None:
    """A command sent to nobody gets its timed-out reply once the clock passes the deadline, not before."""
    async with Landscape([lending]) as land:
        await land.execute(ping, SendPing(ping_id="p1", deadline_seconds=30))
        await land.settle()
        assert await _notice(land, "p1") is None
        await land.advance(29)
        assert await _notice(land, "p1") is None
        await land.advance(2)
        notice = await _notice(land, "p1")
        assert notice is not None
        assert notice.outcome == "timed_out"
        assert await land.store(lending).list_aggregates(REQUEST_KIND, where={}, after=None, limit=10) == []


async def test_duplicates_on_demand_are_applied_once() -> None:
    """Every message delivered twice: the command runs once and its confirmation is recorded once."""
    async with Landscape([lending, partner]) as land:
        land.duplicate_next(None)
        await land.execute(notify, Notify(sms_id="s1"))
        await land.settle()
        notice = await _notice(land, "s1")
        assert notice is not None
        assert (notice.outcome, notice.confirmed_runs, notice.replies) == ("confirmed", 1, 1)
        assert land["partner"].consumers[0].stats.duplicates >= 1
        assert land["lending"].consumers[0].stats.duplicates >= 1
        stored = await land.store(partner).load("Sms", "s1")
        assert stored is not None
        assert Sms.model_validate_json(stored.data).runs == 1


async def test_reordered_notifications_end_on_the_newest_version() -> None:
    """Three changes published newest first: the copy ends on the newest version."""
    async with Landscape([customer, loans.domain]) as land:
        land.reorder_next(3)
        for name in ("v1", "v2", "v3"):
            await land.execute(rename, Rename(id="9", name=name))
        await land.settle()
        assert await _copy(land, "9") == ("v3", 3)


async def test_a_domain_down_gets_its_messages_when_it_is_back() -> None:
    """While partner is down its commands wait (settle() does not wait for it); back, it answers each."""
    async with Landscape([lending, partner]) as land:
        async with land.down("partner"):
            await land.execute(notify, Notify(sms_id="s2"))
            await land.settle()
            assert await _notice(land, "s2") is None
            with pytest.raises(httpx.ConnectError):
                await land.http("partner").get("/openapi.json")
        await land.settle()
        notice = await _notice(land, "s2")
        assert notice is not None
        assert notice.outcome == "confirmed"


def test_an_external_service_nobody_serves_is_a_configuration_error() -> None:
    """A consumer whose producer is not in the landscape is refused with what to do about it."""
    with pytest.raises(ConfigurationError, match="no domain of the landscape serves it"):
        Landscape([pricing.domain])


def test_the_manual_clock_moves_only_forward() -> None:
    """advance() moves the clock; going back is refused."""
    clock = ManualClock()
    before = clock.now()
    clock.advance(5)
    assert (clock.now() - before).total_seconds() == 5 == clock.monotonic()
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)


async def test_the_readme_first_example_passes() -> None:
    """The README's first example (a domain and its Landscape test) runs as written and its test passes."""
    code = README.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    await namespace["test_register_customer"]()


async def test_a_reordering_run_shorter_than_asked_is_delivered_by_settle() -> None:
    """Asked to reorder five messages but only two come: settle() publishes them (reversed) and waits for them."""
    async with Landscape([customer, loans.domain]) as land:
        land.reorder_next(5)
        await land.execute(rename, Rename(id="5", name="first"))
        await land.execute(rename, Rename(id="5", name="second"))
        await land.settle()
        assert await _copy(land, "5") == ("second", 2)
