"""A real process for fault tests: hosts fault_app's domains on any store and broker until its work is done.

    python runner.py both    N --store URL --broker URL   # payment and receipt: N commands, N receipts
    python runner.py produce N --store URL --broker URL   # payment only: N commands, then an empty outbox
    python runner.py consume N --store URL --broker URL   # receipt only: wait for N receipts

The store URL holds ``{domain}``; ``--visibility-timeout`` is added to the broker URL. ``--poison K`` adds
K poison payments (``X0``, ``X1``, ...) after the N good ones (``P00000``, ...); the receipt side then
also waits until K dead letters are parked. ``--chunk`` commands run at once, ``--pause`` seconds apart.
Everything is counted through the Store port: receipts of the known ids by ``list_aggregates`` (see
``receipts.py``), the outbox by ``outbox_status``, dead letters by ``dead_letters``.

The receipt side is done when every receipt exists, the dead letters are parked, and its consumers have
fetched nothing for ``--quiet`` seconds (by default more than the visibility timeout) since then: a
delivery left unacked by a killed process is handed out again within the visibility timeout, so a
redelivered duplicate still reaches the inbox before this process stops. With ``--until FILE`` the
receipts are not counted here: they are complete once FILE exists (a test counted them once for several
consumer processes).

Commands are retried as a client would, after a crash (``record_payment`` is idempotent per payment id)
and when the store is unavailable. Crash points are armed through ``INTERLINK_CRASH_AT`` by the test.
``--ready FILE`` is written once the runtime runs (its subscription exists); ``--status FILE`` holds a
JSON line of progress, rewritten as the work goes. At the end the process stops its runtime gracefully,
prints one JSON line of what it did and exits 0; if the work is not done within ``--timeout``, or it is
sent SIGTERM, it stops the same way, prints what it is missing and exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from fault_app import payment, receipt, record_payment  # type: ignore[import-not-found]  # on sys.path at run time
from receipts import ReceiptCursor  # type: ignore[import-not-found]

from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import AdapterError
from interlink.runtime import Runtime, Settings

log = logging.getLogger("runner")


class Work:
    """What this process waits for, and how far it got."""

    def __init__(self, rt: Runtime, args: argparse.Namespace, domains: list[str]) -> None:
        self.args = args
        self.produces = "payment" in domains
        self.consumes = "receipt" in domains
        self.payment_store = rt["payment"].store if self.produces else None
        self.receipt_store = rt["receipt"].store if self.consumes else None
        self.consumers = [c for name in domains for c in rt[name].consumers]
        self.relays = [rt[name].relay for name in domains]
        counting = self.consumes and args.until is None
        self.receipts = ReceiptCursor(self.receipt_store, [f"P{i:05d}" for i in range(args.n)]) if counting else None
        self.outbox = -1
        self.dead_letters = -1
        self.commands = 0
        self.command_retries = 0
        self._batches = -1
        self._active_at = time.monotonic()

    def batches(self) -> int:
        return sum(c.stats.batches for c in self.consumers)

    async def refresh(self) -> None:
        """Count again; a store that does not answer right now leaves the last counts as they were."""
        try:
            if self.payment_store is not None:
                self.outbox = (await self.payment_store.outbox_status()).pending
            if self.receipt_store is not None:
                was_complete = self.complete
                if self.receipts is not None:
                    await self.receipts.look()
                self.dead_letters = len(await self.receipt_store.dead_letters(limit=self.args.poison + 100))
                if self.complete and not was_complete:
                    self._active_at = time.monotonic()
        except AdapterError as exc:
            log.info("counting: %s", exc)
        if (batches := self.batches()) != self._batches:
            self._batches = batches
            self._active_at = time.monotonic()

    @property
    def complete(self) -> bool:
        """Every receipt exists: counted here, or (``--until``) by whoever wrote the file."""
        if self.receipts is not None:
            return bool(self.receipts.complete)
        return self.args.until is not None and self.args.until.exists()

    def done(self) -> bool:
        produced = not self.produces or self.outbox == 0
        consumed = not self.consumes or (
            self.complete
            and self.dead_letters >= self.args.poison
            and time.monotonic() - self._active_at >= self.args.quiet
        )
        return produced and consumed

    def state(self) -> dict[str, Any]:
        stats = [c.stats for c in self.consumers]
        return {
            "pid": os.getpid(),
            "cpu": round(time.process_time(), 2),
            "published": sum(r.published for r in self.relays),
            "processed": sum(s.processed for s in stats),
            "duplicates": sum(s.duplicates for s in stats),
            "retried": sum(s.retried for s in stats),
            "dead_lettered": sum(s.dead_lettered for s in stats),
            "batches": sum(s.batches for s in stats),
            "receipts": self.receipts.found if self.receipts is not None else None,
            "outbox": self.outbox,
            "dead_letters": self.dead_letters,
            "commands": self.commands,
            "command_retries": self.command_retries,
        }

    def report(self) -> None:
        """Rewrite the status file, if there is one."""
        if self.args.status:
            write_atomically(self.args.status, json.dumps(self.state()))


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


async def produce(rt: Runtime, work: Work, commands: list[dict[str, Any]], deadline: float) -> None:
    """Run every command, ``--chunk`` at a time; a command the store could not take is run again."""
    producer = rt["payment"]

    async def run(command: dict[str, Any]) -> None:
        while True:
            try:
                await producer.execute(record_payment, command)
                return
            except AdapterError as exc:
                work.command_retries += 1
                if time.monotonic() > deadline:
                    raise
                log.info("command %s again after: %s", command["id"], exc)
                await asyncio.sleep(0.05)

    for first in range(0, len(commands), work.args.chunk):
        await asyncio.gather(*(run(c) for c in commands[first : first + work.args.chunk]))
        work.commands = first + len(commands[first : first + work.args.chunk])
        work.report()
        if work.args.pause:
            await asyncio.sleep(work.args.pause)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["both", "produce", "consume"])
    parser.add_argument("n", type=int)
    parser.add_argument("--store", required=True, help="store URL with {domain}")
    parser.add_argument("--broker", required=True, help="broker URL")
    parser.add_argument("--ready", type=Path, help="written once the runtime runs")
    parser.add_argument("--status", type=Path, help="progress, rewritten as the work goes")
    parser.add_argument("--until", type=Path, help="receipts are complete once this file exists (not counted)")
    parser.add_argument("--chunk", type=int, default=50, help="commands run concurrently")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between chunks, to pace the run")
    parser.add_argument("--relay-batch", type=int, default=500)
    parser.add_argument("--consumer-batch", type=int, default=200)
    parser.add_argument("--visibility-timeout", type=float, default=2.0)
    parser.add_argument("--quiet", type=float, help="idle seconds before stopping (default: > visibility)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--poison", type=int, default=0, help="poison payments after the good ones")
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args()
    if args.quiet is None:
        # A delivery left unacked before this process started is visible again within one visibility
        # timeout from its start; half a second more covers the broker's own pace of handing it out.
        args.quiet = args.visibility_timeout + 0.5
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    names = {"both": ["payment", "receipt"], "produce": ["payment"], "consume": ["receipt"]}[args.mode]
    joiner = "&" if "?" in args.broker else "?"
    settings = Settings(
        store_url=args.store,
        broker_url=f"{args.broker}{joiner}visibility_timeout={args.visibility_timeout}",
        relay_batch=args.relay_batch,
        relay_poll_interval=0.1,
        consumer_batch=args.consumer_batch,
        fetch_wait=0.1,
        retry=RetryPolicy(max_attempts=args.max_attempts, base_delay=0.01, max_delay=0.05),
    )
    commands = [{"id": f"P{i:05d}", "amount": i} for i in range(args.n)]
    commands += [{"id": f"X{i}", "amount": 0, "poison": True} for i in range(args.poison)]
    started = time.perf_counter()
    deadline = time.monotonic() + args.timeout
    stop = asyncio.Event()  # SIGTERM: give up, but stop the runtime gracefully so it says how its tasks ended
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    domains = [d for d in (payment, receipt) if d.name in names]
    async with Runtime(domains, settings) as rt:
        work = Work(rt, args, names)
        if args.ready:
            write_atomically(args.ready, "running\n")
        if work.produces:
            await produce(rt, work, commands, deadline)
        while True:
            await work.refresh()
            work.report()
            if work.done():
                break
            if time.monotonic() > deadline or stop.is_set():
                error = "stopped by SIGTERM" if stop.is_set() else "timed out"
                print(json.dumps({"error": error, **work.state()}), flush=True)
                return 3
            await asyncio.sleep(0.05)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3), **work.state()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
