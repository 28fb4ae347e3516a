"""Start-up waits: retried with backoff until ready, logged, bounded by the timeout; configuration errors are not."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from interlink import Domain
from interlink.exceptions import BrokerUnavailable, ConfigurationError, MissingDriverError
from interlink.runtime import Runtime, Settings
from interlink.runtime.startup import Backoff, StartupTimeout, until_ready
from interlink.testing.waiting import wait_until
from tests.faults.apps.inbound_app import applied, ledger_domain, write_entries


class Flaky:
    """An attempt that fails ``failures`` times with ``error``, then succeeds; counts its calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


async def test_a_dependency_is_retried_until_ready_and_each_wait_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Three failures, then success: four attempts, three waits logged with the reason, one 'ready'."""
    attempt = Flaky(3, BrokerUnavailable("connection refused"))
    with caplog.at_level(logging.INFO, logger="interlink.runtime"):
        await until_ready("the broker", attempt, Backoff(30, first=0.001))
    assert attempt.calls == 4
    waits = [r.getMessage() for r in caplog.records if "waiting for the broker" in r.getMessage()]
    assert len(waits) == 3
    assert all("BrokerUnavailable: connection refused" in w for w in waits)
    assert any("the broker is ready (attempt 4)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("error", [ConfigurationError("bad URL"), MissingDriverError("nats", "nats")])
async def test_a_configuration_error_is_raised_at_once(error: Exception) -> None:
    """No retry can fix a configuration error: it is raised at the first attempt, whatever the timeout."""
    attempt = Flaky(1, error)
    with pytest.raises(type(error)):
        await until_ready("the store", attempt, Backoff(600))
    assert attempt.calls == 1


async def test_a_timeout_of_zero_raises_the_first_error_as_it_is() -> None:
    """With no start-up timeout the first failure is raised unchanged (no wait)."""
    attempt = Flaky(5, BrokerUnavailable("down"))
    with pytest.raises(BrokerUnavailable, match="down"):
        await until_ready("the broker", attempt, Backoff(0))
    assert attempt.calls == 1


async def test_the_timeout_ends_the_waits_naming_what_and_the_last_error() -> None:
    """A dependency that never comes: StartupTimeout names it, the timeout and the last error."""
    attempt = Flaky(10**9, BrokerUnavailable("still down"))
    with pytest.raises(StartupTimeout) as raised:
        await until_ready("the broker at nats://x", attempt, Backoff(0.3, first=0.01, cap=0.05))
    assert attempt.calls > 1
    message = str(raised.value)
    assert "the broker at nats://x was not ready within the start-up timeout of 0.3s" in message
    assert "last error: BrokerUnavailable: still down" in message


def test_backoff_doubles_up_to_its_cap() -> None:
    """Waits double from the first one and stop growing at the cap."""
    backoff = Backoff(120, first=0.2, cap=5.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_a_negative_startup_timeout_is_a_configuration_error() -> None:
    """Runtime refuses a negative start-up timeout before anything starts."""
    with pytest.raises(ConfigurationError, match="must not be negative"):
        Runtime([Domain("d")], Settings(store_url="memory://", broker_url="memory://"), startup_timeout=-1)


async def test_runtime_waits_for_its_inbound_folder_then_takes_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An inbound directory that cannot be made yet (a mount not there) is waited for; then files flow."""
    mount = tmp_path / "mnt"
    mount.write_text("not a directory yet")  # as a mount point not mounted: creating the folders fails
    ledger = ledger_domain(mount / "inbound", settle_seconds=0.05)
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url="memory://")
    runtime = Runtime([ledger], settings, startup_timeout=60)
    with caplog.at_level(logging.INFO, logger="interlink.runtime"):
        starting = asyncio.create_task(runtime.start())
        await wait_until(
            lambda: any("waiting for the inbound folders of ledger" in r.getMessage() for r in caplog.records),
            timeout=30,
            what="a wait for the folders logged",
        )
        assert not starting.done()
        mount.unlink()
        mount.mkdir()  # the mount arrives
        await asyncio.wait_for(starting, timeout=30)
    try:
        write_entries(mount / "inbound" / "entries-1.csv", 5)
        store = runtime["ledger"].store

        async def posted() -> bool:
            return len(await applied(store)) == 5

        await wait_until(posted, timeout=30, what="5 entries posted")
        assert set((await applied(store)).values()) == {1}
    finally:
        await runtime.stop()
