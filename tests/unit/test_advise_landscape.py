"""``interlink advise`` on a landscape with known traffic: one integration per case the advice must get right.

The consumer keeps four copies of the source's data: an eager case file that opens a fraud case on every
change (keep notification), a rarely read rate (deferred update), a read-heavy branch with a small payload
(state transfer) and a replica of accounts reading one field of five (carry less). The notifications, fetches
and replica versions are written as the consumer's runtime records them; the reads go through the runtime's
own queries (``ctx.get`` / ``ctx.list`` / ``ctx.replica``), so the read counting is the runtime's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from typer.testing import CliRunner

from interlink import Aggregate, Context, Domain, NotificationEvent, Replica, StateTransferEvent
from interlink.cli.advise import WIDTH, render
from interlink.cli.main import app
from interlink.core.pagination import Page
from interlink.patterns.notification import advise, subscription_figures
from interlink.patterns.notification.records import Counters, counter_records
from interlink.patterns.state_transfer import advise_replica, replica_figures
from interlink.ports.store import AggregateWrite, ChangeSet
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.settings import Settings

source = Domain("advice-source")
consumer = Domain("advice-consumer")
NOW = datetime.now(UTC)
SINCE = NOW - timedelta(minutes=10)


@source.event
class CustomerChanged(NotificationEvent):
    """A customer changed."""


@source.event
class RateChanged(NotificationEvent):
    """An interest rate changed."""


@source.event
class BranchChanged(NotificationEvent):
    """A branch changed."""


@source.event
class AccountChanged(StateTransferEvent):
    """Every field of an account."""

    holder: str
    balance: Decimal
    currency: str
    branch: str
    segment: str


class CaseFile(Aggregate):
    """The consumer's fraud case file on a customer."""

    name: str


class RateCopy(Aggregate):
    """The consumer's copy of a rate."""

    rate: str


class BranchCopy(Aggregate):
    """The consumer's copy of a branch."""

    city: str


class BalanceCopy(Replica):
    """The consumer reads the balance only."""

    balance: Decimal


class Fetched(BaseModel):
    """What a fetch answers, as the commands take it."""

    id: str
    name: str = ""


for kind in (CaseFile, RateCopy, BranchCopy):
    consumer.aggregate(kind)
customers = consumer.external_service(
    "customers", resource="/customers/{id}", base_url="http://127.0.0.1:9/c", translate=Fetched.model_validate
)
rates = consumer.external_service(
    "rates", resource="/rates/{id}", base_url="http://127.0.0.1:9/r", translate=Fetched.model_validate
)
branches = consumer.external_service(
    "branches", resource="/branches/{id}", base_url="http://127.0.0.1:9/b", translate=Fetched.model_validate
)


@consumer.command
async def open_case(ctx: Context, data: Fetched) -> CaseFile:
    """Open a fraud case on every change of a customer (a side effect per change)."""
    case = CaseFile(id=data.id, name=data.name)
    await ctx.save(case)
    return case


@consumer.command
async def keep_rate(ctx: Context, data: Fetched) -> RateCopy:
    """Keep the rate."""
    copy = RateCopy(id=data.id, rate=data.name)
    await ctx.save(copy)
    return copy


@consumer.command
async def keep_branch(ctx: Context, data: Fetched) -> BranchCopy:
    """Keep the branch."""
    copy = BranchCopy(id=data.id, city=data.name)
    await ctx.save(copy)
    return copy


@consumer.query
async def rate(ctx: Context, id: str) -> RateCopy | None:
    """One rate (a plain read of the kept copy)."""
    return await ctx.find(RateCopy, id)


@consumer.query
async def all_branches(ctx: Context) -> Page[BranchCopy]:
    """Every branch (a list of the kept copy)."""
    return await ctx.list(BranchCopy, limit=10)


@consumer.query
async def balance(ctx: Context, id: str) -> BalanceCopy | None:
    """One balance of the replica."""
    return await ctx.replica(BalanceCopy, id)


eager = consumer.on_notification(CustomerChanged, fetch=customers, command=open_case, side_effects=True)
rare = consumer.on_notification(RateChanged, fetch=rates, command=keep_rate)
busy = consumer.on_notification(BranchChanged, fetch=branches, command=keep_branch)
balances = consumer.replica(AccountChanged, model=BalanceCopy, name="balances")


def _write(kind: str, id: str, version: int, data: dict[str, Any]) -> AggregateWrite:
    return AggregateWrite(kind, id, 0, version, json.dumps({"id": id, "version": version, **data}, default=str))


def _traffic(name: str, changes: int, fetches: int, ms: float, size: int) -> AggregateWrite:
    """The consumer's counters of one subscription: ``changes`` notifications and their fetches."""
    counters = Counters(
        id="delivery-known", received=changes, fetches=fetches, fetch_seconds=fetches * ms / 1000,
        payload_bytes=fetches * size, since=SINCE,
    )  # fmt: skip
    return _write(counter_records(name).kind, counters.id, 1, counters.model_dump(exclude={"id", "version"}))


async def _landscape() -> DomainRuntime:
    """The consumer on memory backends with the known traffic in its store, its reads made by its queries."""
    runtime = DomainRuntime(consumer, *_backends(), Settings(store_url="memory://", broker_url="memory://"))
    await runtime.store.connect()
    writes = [
        _traffic(eager.name, 6, 6, 12.0, 900),  # six changes, each one a fraud case: read by nobody
        _traffic(rare.name, 50, 50, 20.0, 800),  # fifty rate changes, read twice
        _traffic(busy.name, 20, 20, 15.0, 300),  # twenty branch changes, small payload, read 200 times
        _write(RateCopy.aggregate_name(), "R1", 50, {"rate": "4.1"}),
        *(_write(BranchCopy.aggregate_name(), f"B{n}", 4, {"city": f"City {n}"}) for n in range(5)),
        _write(balances.kind, "A1", 30, {"balance": "5", "deleted": False}),
    ]
    await runtime.store.commit([ChangeSet(writes=writes)])
    for _ in range(2):
        await runtime.query(rate, id="R1")
    for _ in range(40):  # five branches a page: 200 reads
        await runtime.query(all_branches)
    for _ in range(3):
        await runtime.query(balance, id="A1")
    assert runtime.read_tally is not None
    await runtime.read_tally.flush()
    return runtime


def _backends() -> tuple[Any, Any]:
    from interlink.adapters.brokers.memory import MemoryBroker
    from interlink.adapters.stores.memory import MemoryStore

    return MemoryStore(domain=consumer.name), MemoryBroker()


async def test_each_kind_of_integration_gets_the_advice_that_fits_it() -> None:
    """Eager consumer: keep notification; rarely read copy: deferred; read-heavy small copy: state transfer;
    replica reading one field of five: carry less. Reads are counted from ctx.find / list / replica."""
    runtime = await _landscape()
    store = runtime.store
    advice = {spec.name: advise(await subscription_figures(store, spec), NOW) for spec in (eager, rare, busy)}
    replica = advise_replica(await replica_figures(store, balances))
    await store.close()

    kept = advice[eager.name]
    assert (kept.recommendation, kept.switch, kept.figures.reads) == ("state change notification", False, 0)
    assert "reacts to every change" in kept.reason
    assert "deferred update would skip its side effects" in kept.reason

    deferred = advice[rare.name]
    assert (deferred.recommendation, deferred.figures.copy_reads) == ("deferred update", 2)
    assert "50 changes against 2 reads" in deferred.reason
    assert deferred.effect.startswith("up to 48 of 50 fetches saved (38400 B)")
    assert "staleness added" in deferred.effect

    carried = advice[busy.name]
    assert (carried.recommendation, carried.figures.reads) == ("state transfer", 200)
    assert carried.effect.startswith("all 20 fetches saved (15.0 ms each)")

    assert (replica.recommendation, replica.figures.reads) == ("carry less", 3)
    assert "4 of 5 fields no longer carried in each of 30 events" in replica.effect


async def test_a_figure_that_was_not_measured_is_said_to_be_so() -> None:
    """No read counted at all (no runtime ever ran): the advice keeps the pattern and says reads were not
    measured, rather than advising deferred update against zero reads."""
    from interlink.adapters.stores.memory import MemoryStore

    async with MemoryStore(domain=consumer.name) as store:
        await store.commit([ChangeSet(writes=[_traffic(rare.name, 50, 50, 20.0, 800)])])
        advice = advise(await subscription_figures(store, rare), NOW)
    assert (advice.pattern, advice.figures.reads) == ("keep", None)
    assert "reads of the kept copy not measured" in advice.reason
    assert advice.as_dict()["figures"]["reads"] is None


async def test_the_printed_advice_fits_100_columns_and_the_json_carries_every_figure() -> None:
    """Every line of the text is at most 100 characters; the JSON holds the pattern in use, the one that fits,
    the figures and the expected effect of switching."""
    runtime = await _landscape()
    store = runtime.store
    found = [advise(await subscription_figures(store, spec), NOW) for spec in (eager, rare, busy)]
    found_replica = [advise_replica(await replica_figures(store, balances))]
    await store.close()
    text = render({consumer.name: [*found, *found_replica]})
    assert max(len(line) for line in text.splitlines()) <= WIDTH, text
    assert "fits:      deferred update (switch to)" in text
    assert "switching: up to 48 of 50 fetches saved" in text
    document = [a.as_dict() for a in found]
    assert document[1]["in_use"] == "state change notification"
    assert document[1]["fits"] == "deferred update"
    assert document[1]["figures"]["mean_fetch_ms"] == 20.0
    assert document[1]["effect_of_switching"].startswith("up to 48")
    json.dumps(document)


def test_advise_prints_json_with_format_json() -> None:
    """`interlink advise --format json` prints one JSON document, figures not measured as null."""
    result = CliRunner().invoke(app, ["advise", f"{__name__}:consumer", "--store", "memory://", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    entries = {e["integration"]: e for e in document["domains"]["advice-consumer"]}
    assert entries[eager.name]["figures"]["reacts_to_every_change"] is True
    assert entries[rare.name]["fits"] == "keep state change notification"  # nothing received in a fresh store
