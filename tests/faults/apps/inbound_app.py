"""A ledger domain fed by inbound files, for the inbound file tests; run as a script it watches its directory.

Each record posts an entry: the entry counts how often it was applied (``applied``), so a record that ran
twice shows up as 2, and the entry's account adds up its amounts, so a lost or doubled record shows in the
balance. An amount of 0 is refused with a business error.

    python inbound_app.py DIRECTORY --store URL [--until N] [--batch 50] [--status FILE]

watches DIRECTORY with a :class:`FileIntake` until N records are archived (or forever), rewriting FILE with
its counts. ``interlink ingest FILE --app inbound_app:ledger --source entries`` uses the module-level
``ledger``, whose directory is ``$INBOUND_APP_DIR`` and batch size ``$INBOUND_APP_BATCH``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain
from interlink.exceptions import BusinessRuleError
from interlink.patterns.inbound_file.declarations import CsvFormat, FileFormat


class Entry(Aggregate):
    """One posted entry; ``applied`` counts every application of its record."""

    account: str
    amount: Decimal
    applied: int = 1


class Account(Aggregate):
    """The sum of the entries posted to an account."""

    balance: Decimal = Decimal(0)
    entries: int = 0


class EntryRow(BaseModel):
    """A record of an entries file, and the input of post_entry."""

    id: str = Field(min_length=1, max_length=40)
    account: str = Field(pattern=r"^A\d{1,6}$")
    amount: Decimal = Field(max_digits=12, decimal_places=2)
    note: str | None = None


async def post_entry(ctx: Context, data: EntryRow) -> Entry:
    """Post an entry to its account; a zero amount is refused."""
    if data.amount == 0:
        raise BusinessRuleError(f"entry {data.id}: an amount of 0 moves nothing")
    entry = await ctx.find(Entry, data.id)
    if entry is None:
        entry = Entry(id=data.id, account=data.account, amount=data.amount)
    else:
        entry.applied += 1
    await ctx.save(entry)
    account = await ctx.find(Account, data.account) or Account(id=data.account)
    account.balance += data.amount
    account.entries += 1
    await ctx.save(account)
    return entry


async def record_entry(ctx: Context, data: EntryRow) -> None:
    """Save a new entry, reading nothing first: the bulk path (a second application would be a conflict)."""
    await ctx.save(Entry(id=data.id, account=data.account, amount=data.amount))


def ledger_domain(directory: str | Path, *, format: FileFormat | None = None, **options: Any) -> Domain:
    """A fresh ledger domain reading ``directory``: source ``entries`` (``entries-*`` files, post_entry) and
    source ``bulk`` (``bulk-*`` files, record_entry)."""
    domain = Domain("ledger", description="Posts the entries of inbound files")
    domain.aggregate(Entry)
    domain.aggregate(Account)
    domain.command(post_entry)
    domain.command(record_entry)
    bulk = {k: v for k, v in options.items() if k not in ("pattern", "limits", "rejects")}
    options.setdefault("pattern", "entries-*")
    domain.inbound_file(
        "entries", directory=directory, format=format or CsvFormat(), record=EntryRow, command=post_entry, **options
    )
    domain.inbound_file("bulk", directory=directory, pattern="bulk-*", command=record_entry, **bulk)
    return domain


ledger = ledger_domain(
    os.environ.get("INBOUND_APP_DIR", "inbound"),
    batch_size=int(os.environ.get("INBOUND_APP_BATCH", "500")),
    settle_seconds=0.3,
)


HEADER = "id,account,amount,note"


def write_entries(path: Path, count: int, *, first: int = 0, extra: str = "") -> Path:
    """A CSV entries file: ``count`` good rows E<first>.. on accounts A0-A9, amounts 1.00 to 9.00, then ``extra``."""
    rows = "".join(f"E{i:07d},A{i % 10},{i % 9 + 1}.00,\n" for i in range(first, first + count))
    path.write_text(f"{HEADER}\n{rows}{extra}", encoding="utf-8")
    return path


def expected_balances(count: int, first: int = 0) -> dict[str, Decimal]:
    """What write_entries' good rows add up to per account."""
    balances: dict[str, Decimal] = {}
    for i in range(first, first + count):
        balances[f"A{i % 10}"] = balances.get(f"A{i % 10}", Decimal(0)) + Decimal(i % 9 + 1)
    return balances


async def applied(store: Any) -> dict[str, int]:
    """Entry id -> how many times its record was applied, for every stored entry (through the Store port)."""
    found: dict[str, int] = {}
    after = None
    while page := await store.list_aggregates("Entry", where={}, after=after, limit=1000):
        found.update((id, json.loads(doc.data)["applied"]) for id, doc in page)
        after = page[-1][0]
    return found


async def balances(store: Any) -> dict[str, Decimal]:
    """Account id -> balance, for every stored account."""
    page = await store.list_aggregates("Account", where={}, after=None, limit=1000)
    return {id: Decimal(json.loads(doc.data)["balance"]) for id, doc in page}


async def until(condition: Callable[[], Awaitable[object] | object], *, within: float) -> None:
    """Wait until ``condition()`` holds, looking every 10 ms; TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.01)


async def watch() -> int:
    """Watch a directory with FileIntake until ``--until`` records are archived."""
    from interlink.patterns.inbound_file import FileIntake, IntakeSettings
    from interlink.runtime.backends import open_broker, open_store
    from interlink.runtime.domain_runtime import DomainRuntime

    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--store", required=True)
    parser.add_argument("--until", type=int)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--status", type=Path)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    domain = ledger_domain(args.directory, batch_size=args.batch, settle_seconds=0.2)
    deadline = time.monotonic() + args.timeout
    async with open_store(args.store, domain.name) as store:
        runtime = DomainRuntime(domain, store, open_broker("memory://"))
        intake = FileIntake(runtime, IntakeSettings(poll_interval=0.05, lease=2.0))
        await intake.start()
        try:
            while time.monotonic() < deadline:
                archived = sum(r.records for r in intake.reports if r.outcome == "archived")
                if args.status:
                    partial = args.status.with_name(args.status.name + ".partial")
                    partial.write_text(json.dumps({"pid": os.getpid(), "archived_records": archived}))
                    partial.replace(args.status)
                if args.until is not None and archived >= args.until:
                    print(json.dumps({"archived_records": archived}), flush=True)
                    return 0
                await asyncio.sleep(0.05)
        finally:
            await intake.stop()
    return 3


if __name__ == "__main__":
    sys.exit(asyncio.run(watch()))
