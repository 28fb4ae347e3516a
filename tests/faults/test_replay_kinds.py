"""``interlink dead-letters replay`` for every kind of subscription, against a stopped and a running runtime.

For each kind of ``apps/replay_app.py``, hub parks one message (its code fails until fixed); then the
replay runs as a real ``interlink`` process with the fix, while hub's runtime is stopped or running in
this process. The test counts that the message was applied exactly once (its tally is 1), the letter is
gone, and the original message delivered again is recognised as a duplicate; what the replay emitted
(a reply, a saga's next command) reaches its domain and is applied once too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.delivery.retry import RetryPolicy
from interlink.patterns.api_exposure import ApiSettings
from interlink.patterns.command_events import list_sagas
from interlink.patterns.notification.records import counter_records, sync_records
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope
from interlink.ports.store import DeadLetter, Store
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.runtime.http import api_for
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.uvicorn_server import LiveServer

from .apps import replay_app
from .apps.replay_app import (
    KINDS,
    ProfileChanged,
    ask,
    ask_booking,
    change_account,
    change_limit,
    hub,
    onboard,
    pay,
    peer,
)
from .support import run_cli

pytestmark = pytest.mark.faults

POLICY = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
KEY = "k1"


@dataclass
class Scene:
    """Both domains on ``store`` (a URL with ``{domain}``) and ``broker``; peer's API at ``api``."""

    folder: Path
    store: str
    broker: str
    api: str = ""

    @classmethod
    def local(cls, folder: Path) -> Scene:
        """SQLite stores and the embedded broker in ``folder``."""
        return cls(folder, f"sqlite:///{folder}/{{domain}}.db", f"sqlite:///{folder}/broker.db")

    def settings(self) -> Settings:
        return Settings(
            store_url=self.store,
            broker_url=self.broker,
            retry=POLICY,
            relay_poll_interval=0.05,
            fetch_wait=0.05,
            service_urls={"peer": self.api} if self.api else {},
        )

    def urls(self) -> tuple[str, ...]:
        return ("--store", self.store, "--broker", self.broker)


@asynccontextmanager
async def peer_serving(scene: Scene) -> AsyncIterator[Runtime]:
    """Peer's runtime, with its API served for hub's notification fetches."""
    async with (
        Runtime([peer], scene.settings()) as rt,
        LiveServer(api_for({"peer": rt["peer"]}, ApiSettings())) as server,
    ):
        scene.api = server.url
        yield rt


async def send(kind: str, hub_rt: Runtime, peer_rt: Runtime) -> None:
    """Make peer (or hub itself) send hub the message of ``kind``."""
    key = {"id": KEY}
    if kind == "deferred":
        # Peer's producers still send version 1 of ProfileChanged (see replay_app).
        envelope = Envelope(
            id=uuid.uuid4().hex,
            source="peer",
            type=ProfileChanged.base_type(),
            time=datetime.now(UTC),
            data={"resource": "Profile", "id": KEY, "version": 1, "path": f"/profiles/{KEY}"},
        )
        await peer_rt.broker.publish([OutgoingMessage(envelope.id, "peer.events", envelope.type, envelope.encode())])
        return
    command = {"plain": pay, "notification": change_account, "replica": change_limit, "command": ask_booking}
    if kind in command:
        await peer_rt["peer"].execute(command[kind], key)
    else:
        await hub_rt["hub"].execute({"reply": ask, "saga": onboard}[kind], key)


async def applied(store: Store, kind: str, key: str) -> int:
    """How many times a tally of ``store`` was counted (0 when it does not exist)."""
    found = await store.load(kind, key)
    return int(json.loads(found.data)["applied"]) if found else 0


async def deferred_figures(store: Store) -> tuple[bool, int, int]:
    """(pending, notified version, notifications received over every writer) of hub's deferred subscription."""
    name = next(name for name, spec in hub.notifications.items() if spec.deferred)
    sync = await store.load(sync_records(name).kind, KEY)
    state = json.loads(sync.data) if sync else {}
    counters = await store.list_aggregates(counter_records(name).kind, where={}, after=None, limit=100)
    received = sum(int(json.loads(c.data)["received"]) for _, c in counters)
    return bool(state.get("pending")), int(state.get("notified", 0)), received


async def effect(kind: str, hub_store: Store) -> int:
    """How many times hub applied the message of ``kind`` (deferred: notifications received; saga: the
    steps the saga moved past its first)."""
    if kind == "deferred":
        pending, notified, received = await deferred_figures(hub_store)
        assert (pending, notified) == (True, 1), "the replayed notification flags the profile as pending"
        return received
    if kind == "saga":
        (saga,) = await list_sagas(hub_store)
        return saga.step
    return await applied(hub_store, "Tally", f"{kind}:{KEY}")


async def downstream(kind: str, peer_store: Store, hub_store: Store) -> bool:
    """What follows the replayed message happened: the booking's reply reached peer, the saga ended."""
    if kind == "command":
        return await applied(peer_store, "PeerTally", f"booked:{KEY}:confirmed") >= 1
    if kind == "saga":
        return await applied(hub_store, "Tally", f"saga:{KEY}:completed") >= 1
    return True


async def wait_parked(store: Store) -> DeadLetter:
    """The one letter hub parks."""
    letters = await wait_until(store.dead_letters, timeout=30, what="hub's letter parked")
    assert len(letters) == 1, letters
    return letters[0]


@pytest.mark.parametrize("mode", ["stopped", "running"])
@pytest.mark.parametrize("kind", KINDS)
async def test_replay_applies_each_kind_once_against_a_stopped_or_running_runtime(
    kind: str, mode: str, tmp_path: Path
) -> None:
    """The CLI replays a parked message of each kind exactly once, hub stopped or running; the letter goes."""
    await replay_once(kind, mode, Scene.local(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("broker_url", ["rabbitmq"], indirect=True)
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("kind", KINDS)
async def test_replay_applies_each_kind_once_on_postgres_and_rabbitmq_while_hub_runs(
    kind: str, backends: Backends, tmp_path: Path
) -> None:
    """The same replay, hub running, on a PostgreSQL store and RabbitMQ: applied once, the letter gone."""
    await replay_once(kind, "running", Scene(tmp_path, backends.store, backends.broker))


async def replay_once(kind: str, mode: str, scene: Scene) -> None:
    """Park hub's message of ``kind``, replay it with the CLI (hub stopped or running), count its effects."""
    tmp_path = scene.folder
    replay_app.FIXED = False
    try:
        async with peer_serving(scene) as peer_rt, open_store(scene.store, "hub") as hub_store:
            hub_rt = Runtime([hub], scene.settings())
            await hub_rt.start()
            try:
                await send(kind, hub_rt, peer_rt)
                letter = await wait_parked(hub_store)
                assert "the fix is not deployed" in letter.error
                channel = hub_rt["hub"].dispatcher.types()[letter.message_type]
                if mode == "stopped":
                    await hub_rt.stop()
                replay_app.FIXED = True  # the fix is deployed (for hub's runtime here; the CLI reads FIX_ENV)
                env = {replay_app.FIX_ENV: "1", "INTERLINK_SERVICE_PEER_URL": scene.api}
                result = await run_cli("dead-letters", "replay", "replay_app:hub", str(letter.id), *scene.urls(),
                                       "--reason", "fixed", cwd=tmp_path, **env)  # type: ignore[arg-type]  # fmt: skip
                assert result.returncode == 0, result.stdout + result.stderr
                assert f"replayed dead letter {letter.id}" in result.stdout
                assert await hub_store.dead_letters() == []
                assert await effect(kind, hub_store) == 1
                if kind in ("command", "saga") and mode == "stopped":
                    # The replay published its reply, or the saga's next command (with hub running, hub's
                    # own relay may take the row first: the next steps show that it arrives).
                    assert "published 1 outbox messages" in result.stdout, result.stdout
                if mode == "stopped":
                    await hub_rt.start()
                # The original message delivered again (under a new broker id, past the broker's dedupe):
                # the inbox knows its envelope id, nothing is applied twice.
                again = OutgoingMessage(uuid.uuid4().hex, channel, letter.message_type, letter.body)
                await peer_rt.broker.publish([again])
                consumer = hub_rt["hub"].consumers[0]
                await wait_until(lambda: consumer.stats.duplicates >= 1, timeout=30, what="the duplicate")
                peer_store = peer_rt["peer"].store
                await wait_until(lambda: downstream(kind, peer_store, hub_store), timeout=30, what="what follows")
            finally:
                await hub_rt.stop()
            assert await hub_store.dead_letters() == []
            if kind == "saga":
                assert await applied(peer_store, "PeerTally", f"reserve:{KEY}") == 1
                assert await applied(peer_store, "PeerTally", f"activate:{KEY}") == 1
                assert await applied(hub_store, "Tally", f"saga:{KEY}:completed") == 1
                (saga,) = await list_sagas(hub_store)
                assert saga.status.value == "completed"
            else:
                assert await effect(kind, hub_store) == 1
            if kind == "command":
                assert await applied(peer_store, "PeerTally", f"booked:{KEY}:confirmed") == 1
            if kind == "reply":
                assert await applied(peer_store, "PeerTally", f"asked:{KEY}") == 1
    finally:
        replay_app.FIXED = False
