"""Table sizes after N messages with retention on: every framework table stays the size of its window.

A workload commits N messages to a fresh store the way a domain does, ``BATCH`` per transaction (a consumer's
batch). Each message leaves an inbox mark, an update of one of 1,000 accounts and an outbox row (sent by a
relay step after each batch); every other message a stored reply (``~reply``, the target's side of a command
event), the other ones an outstanding request (``~request`` with a due time, settled in the next batch);
every 20th a saga (``~saga``, running, completed in the next batch); every batch an Idempotency-Key record
and an update of this process's counters (``~counters:*``, a new process token every 50,000 messages, as after
a restart). Meanwhile the runtime's own :class:`~interlink.runtime.retention.Pruner` runs in the background
with a ``--window`` of a few seconds for every kind. Printed per table (aggregates per kind): the rows written,
the rows left at the end of the workload (before the last prune), and after one more prune round once the
window has passed. Run through ``bench/scale.py --soak N``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, IdempotencyRecord, InboxMark, Store
from interlink.runtime.retention import Pruner
from interlink.runtime.settings import Retention

__all__ = ["BATCH", "soak"]

BATCH = 100
ACCOUNTS = 1_000
SUB = "bench.handlers"
BODY = json.dumps({"id": "a-000001", "status": "approved", "amount": "1250.00", "note": "x" * 160}).encode()

#: Counts rows per table (aggregates per kind class) of a store: ``{table or kind: rows}``.
Counter = Callable[[Store], Awaitable[dict[str, int]]]


class Workload:
    """The framework's writes of a stream of messages, batch by batch; tallies what it wrote."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.written: dict[str, int] = {}
        self._accounts: dict[int, int] = {}  # account -> version
        self._open: list[AggregateWrite] = []  # requests and sagas to settle in the next batch

    def _tally(self, name: str, n: int = 1) -> None:
        self.written[name] = self.written.get(name, 0) + n

    async def batch(self, first: int) -> None:
        """Messages ``first`` .. ``first + BATCH - 1`` in one transaction, then a relay step."""
        writes = self._settle()
        change = ChangeSet(writes=writes)
        for i in range(first, first + BATCH):
            change.inbox.append(InboxMark(SUB, f"m-{i:010d}"))
            change.outbox.append(OutgoingMessage(f"e-{i:010d}", "bench.events", "bench.AccountChanged", BODY))
            account = i % ACCOUNTS
            version = self._accounts.get(account, 0)
            writes.append(AggregateWrite("Account", f"a-{account:06d}", version, version + 1, BODY.decode()))
            self._accounts[account] = version + 1
            if i % 2 == 0:
                writes.append(AggregateWrite("~reply", f"c-{i:010d}", 0, 1, '{"outcome": "confirmed"}'))
                self._tally("~reply")
            else:
                request = AggregateWrite("~request", f"q-{i:010d}", 0, 1, '{"to": "other"}', time.time() + 60)
                writes.append(request)
                self._open.append(request)
                self._tally("~request")
            if i % 20 == 0:
                saga = AggregateWrite("~saga", f"s-{i:010d}", 0, 1, '{"status": "running"}')
                writes.append(saga)
                self._open.append(saga)
                self._tally("~saga")
        token = first // 50_000
        kind, id = "~counters:bench.notify", f"delivery-{token:04d}"
        stored = await self.store.load(kind, id)
        counters = {"received": (json.loads(stored.data)["received"] if stored else 0) + BATCH}
        version = stored.version if stored else 0
        writes.append(AggregateWrite(kind, id, version, version + 1, json.dumps(counters)))
        self._tally("~counters:*", 0 if stored else 1)
        key = f"k-{first:010d}"
        await self.store.claim_idempotency(key, "f" * 64, lease=30)
        change.idempotency = IdempotencyRecord(key, "f" * 64, "done", 0.0, 201, '{"ok": true}')
        self._tally("interlink_idempotency")
        self._tally("Account", BATCH)
        self._tally("interlink_inbox", BATCH)
        self._tally("interlink_outbox", BATCH)
        await self.store.commit([change])
        rows = await self.store.outbox_batch(10 * BATCH)
        await self.store.mark_sent([row.seq for row in rows])

    def _settle(self) -> list[AggregateWrite]:
        """Settle the requests (delete) and end the sagas (completed) opened in the batch before."""
        settled = []
        for w in self._open:
            if w.kind == "~request":
                settled.append(AggregateWrite(w.kind, w.id, 1, 2, None))
            else:
                settled.append(AggregateWrite(w.kind, w.id, 1, 2, '{"status": "completed"}'))
        self._open = []
        return settled


async def soak(store: Store, n: int, window: float, count: Counter) -> None:
    """Run the workload of ``n`` messages with every window at ``window`` seconds and print the table sizes."""
    retention = Retention(
        inbox=window, idempotency=window, replies=window, sagas=window, counters=window, interval=1.0, batch=1000
    )
    pruner = Pruner(store, retention, "bench")
    task = asyncio.create_task(pruner.run())
    workload = Workload(store)
    started = time.perf_counter()
    try:
        for first in range(0, n, BATCH):
            await workload.batch(first)
            if first and first % (n // 10) == 0:
                rate = first / (time.perf_counter() - started)
                print(f"  {first:>10,} messages, {rate:,.0f} msg/s, pruned so far {sum(pruner.pruned.values()):,}")
    finally:
        pruner.stop()
        await task
    elapsed = time.perf_counter() - started
    print(f"  {n:,} messages in {elapsed:.0f} s ({n / elapsed:,.0f} msg/s), window {window:g} s, pruning every 1 s")
    before = await count(store)
    await asyncio.sleep(window + 1)  # everything the workload wrote is now older than its window
    await Pruner(store, retention, "bench").round()
    after = await count(store)
    names = sorted(set(before) | set(after) | set(workload.written))
    print(f"  {'table / kind':<24} {'written':>12} {'end of run':>12} {'after prune':>12}")
    for name in names:
        written = workload.written.get(name)
        shown = f"{written:,}" if written is not None else "-"
        print(f"  {name:<24} {shown:>12} {before.get(name, 0):>12,} {after.get(name, 0):>12,}")
