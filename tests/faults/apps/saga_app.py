"""A real process for the saga fault test: hosts one domain of tests/support/command_events_app.py.

    python saga_app.py partner WORKDIR          # the target, until WORKDIR/stop exists
    python saga_app.py lending WORKDIR N        # start N sagas (once), wait until every one has ended
    python saga_app.py lending WORKDIR N --duplicate-replies   # then also send every stored reply again

Stores are ``WORKDIR/{domain}.db``, the broker ``WORKDIR/bus.db`` with a 1 s visibility timeout, so what a
killed process had in hand comes back quickly. Crash points are armed through ``INTERLINK_CRASH_AT``.
At the end the process prints one JSON line of what its consumer did and exits 0 (3 on its timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, for tests.support

from interlink.core.command_events import REPLY_KIND, ReplyData
from interlink.delivery.envelope import Envelope, new_message_id
from interlink.ports.broker import OutgoingMessage
from interlink.runtime import Runtime, Settings
from tests.support.command_events_app import StartMany, lending, originate_many, partner


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def sagas(workdir: Path) -> tuple[int, int]:
    """(sagas started, sagas ended) in the lending store."""
    rows = _rows(
        workdir / "lending.db", "SELECT json_extract(data, '$.status') FROM interlink_aggregates WHERE kind = '~saga'"
    )
    return len(rows), sum(1 for (status,) in rows if status in ("completed", "compensated", "failed"))


def in_flight(workdir: Path) -> int:
    """Deliveries of lending's subscription not yet acked (redeliveries still to come)."""
    rows = _rows(workdir / "bus.db", "SELECT count(*) FROM broker_deliveries WHERE subscription = 'lending'")
    return int(str(rows[0][0])) if rows else 0


def stored_replies(workdir: Path) -> list[tuple[str, str]]:
    """(command id, reply data) of every reply the partner stored."""
    sql = f"SELECT id, data FROM interlink_aggregates WHERE kind = '{REPLY_KIND}'"
    return [(str(id), str(data)) for id, data in _rows(workdir / "partner.db", sql)]


def duplicate(command_id: str, data: str) -> OutgoingMessage:
    """A second copy of a reply the partner sent: same command id, new message id."""
    reply = ReplyData.model_validate_json(data)
    envelope = Envelope(
        id=new_message_id(),
        source="partner",
        type=f"{reply.command_type}.Reply",
        time=datetime.now(UTC),
        data=reply.model_dump(mode="json"),
        inreplyto=command_id,  # type: ignore[call-arg]
    )
    return OutgoingMessage(envelope.id, "lending.replies", envelope.type, envelope.encode())


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain", choices=["lending", "partner"])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("n", type=int, nargs="?", default=0)
    parser.add_argument("--duplicate-replies", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workdir: Path = args.workdir.absolute()
    settings = Settings(
        store_url=f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=f"sqlite:///{workdir}/bus.db?visibility_timeout=1",
        relay_poll_interval=0.1,
        consumer_batch=5,
        fetch_wait=0.1,
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
        if sagas(workdir)[0] == 0:
            await issuer.execute(originate_many, StartMany(n=args.n))
        injected = 0
        if args.duplicate_replies:
            copies = [duplicate(id, data) for id, data in stored_replies(workdir)]
            await rt.broker.publish(copies)
            injected = len(copies)

        def done() -> bool:
            started, ended = sagas(workdir)
            handled = sum(c.stats.processed + c.stats.duplicates for c in issuer.consumers)
            return started == args.n and ended == args.n and in_flight(workdir) == 0 and handled >= injected

        while not await asyncio.to_thread(done):
            if time.monotonic() > deadline:
                print(json.dumps({"error": "timed out", "sagas": sagas(workdir), "in_flight": in_flight(workdir)}))
                return 3
            await asyncio.sleep(0.05)
        report = {
            "processed": sum(c.stats.processed for c in issuer.consumers),
            "duplicates": sum(c.stats.duplicates for c in issuer.consumers),
            "dead_lettered": sum(c.stats.dead_lettered for c in issuer.consumers),
            "injected": injected,
        }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
