"""A real process for the saga fault test: hosts one domain of tests/support/command_events_app.py.

    python saga_app.py partner WORKDIR --store URL --broker URL       # the target, until WORKDIR/stop exists
    python saga_app.py lending WORKDIR N --store URL --broker URL     # start N sagas (once), wait for their ends
        [--wait-duplicates]     # ... and until a redelivered reply was recognised as a duplicate
        [--duplicate-replies]   # first send every reply the partner stored again (new message ids)

Crash points are armed through ``INTERLINK_CRASH_AT``. The partner writes ``WORKDIR/partner.ready`` once
subscribed. At the end the lending process prints one JSON line of what its consumer did and exits 0 (3
after ``--timeout`` seconds, with what it was missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, for tests.support

from interlink.patterns.command_events import list_sagas
from interlink.patterns.command_events.declarations import REPLY_KIND, ReplyData
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import Store
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from tests.support.command_events_app import StartMany, lending, originate_many, partner


async def sagas(store: Store) -> tuple[int, int]:
    """(sagas started, sagas ended) in the lending store."""
    found = await list_sagas(store, limit=10_000)
    return len(found), sum(1 for saga in found if saga.status.ended)


async def stored_replies(store_url: str) -> list[tuple[str, str]]:
    """(command id, reply data) of every reply the partner stored."""
    async with open_store(store_url, "partner") as store:
        found = await store.list_aggregates(REPLY_KIND, where={}, after=None, limit=10_000)
    return [(id, stored.data) for id, stored in found]


def duplicate(command_id: str, data: str) -> OutgoingMessage:
    """A second copy of a reply the partner sent: same command id, new message id."""
    reply = ReplyData.model_validate_json(data)
    envelope = Envelope(
        id=new_message_id(),
        source="partner",
        type=f"{reply.command_type}.Reply",
        time=datetime.now(UTC),
        data=reply.model_dump(mode="json"),
        inreplyto=command_id,
    )
    return OutgoingMessage(envelope.id, "lending.replies", envelope.type, envelope.encode())


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain", choices=["lending", "partner"])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("n", type=int, nargs="?", default=0)
    parser.add_argument("--store", required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--duplicate-replies", action="store_true")
    parser.add_argument("--wait-duplicates", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workdir: Path = args.workdir.absolute()
    settings = Settings(
        store_url=args.store, broker_url=args.broker, relay_poll_interval=0.1, consumer_batch=5, fetch_wait=0.1
    )
    deadline = time.monotonic() + args.timeout
    if args.domain == "partner":
        async with Runtime([partner], settings):
            (workdir / "partner.ready").write_text("subscribed\n")
            while not (workdir / "stop").exists():
                if time.monotonic() > deadline:
                    return 3
                await asyncio.sleep(0.05)
        return 0
    async with Runtime([lending], settings) as rt:
        issuer = rt["lending"]
        if (await sagas(issuer.store))[0] == 0:
            await issuer.execute(originate_many, StartMany(n=args.n))
        injected = 0
        if args.duplicate_replies:
            copies = [duplicate(id, data) for id, data in await stored_replies(args.store)]
            await rt.broker.publish(copies)
            injected = len(copies)

        def stats() -> dict[str, int]:
            return {
                "processed": sum(c.stats.processed for c in issuer.consumers),
                "duplicates": sum(c.stats.duplicates for c in issuer.consumers),
                "dead_lettered": sum(c.stats.dead_lettered for c in issuer.consumers),
                "injected": injected,
            }

        while True:
            started, ended = await sagas(issuer.store)
            now = stats()
            if (
                started == ended == args.n
                and now["processed"] + now["duplicates"] >= injected
                and (now["duplicates"] >= 1 or not args.wait_duplicates)
            ):
                break
            if time.monotonic() > deadline:
                print(json.dumps({"error": "timed out", "started": started, "ended": ended, **now}), flush=True)
                return 3
            await asyncio.sleep(0.05)
        report = stats()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
