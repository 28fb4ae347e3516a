"""Ingesting a file on the in-memory store: exact counts, exact rejects, limits, duplicates, resuming."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.exceptions import StoreUnavailable
from interlink.patterns.inbound_file import FileReport, SourceWorker, ingest_file
from interlink.patterns.inbound_file.declarations import (
    CsvFormat,
    FileLimits,
    FixedField,
    FixedWidthFormat,
    JsonLinesFormat,
    RejectLimit,
    inbound_files_of,
)
from interlink.ports.envelope import Envelope
from interlink.ports.store import AggregateWrite, ChangeSet
from interlink.runtime.domain_runtime import DomainRuntime
from tests.faults.apps.inbound_app import (
    HEADER,
    applied,
    balances,
    expected_balances,
    ledger_domain,
    write_entries,
)


class Ledger:
    """The ledger domain over one in-memory store, reading ``<tmp>/in``."""

    def __init__(self, folder: Path, store: MemoryStore, **options: Any) -> None:
        self.dir = folder / "in"
        self.dir.mkdir(exist_ok=True)
        self.store = store
        self.runtime = DomainRuntime(ledger_domain(self.dir, **options), store, MemoryBroker())

    async def ingest(self, name: str, **options: Any) -> FileReport:
        return await ingest_file(self.runtime, "entries", self.dir / name, **options)

    async def events(self) -> list[dict[str, Any]]:
        """The data of every FileIngested event in the outbox."""
        return [Envelope.decode(row.message.body).data for row in await self.store.outbox_batch(100)]


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A connected in-memory store of the ledger domain."""
    async with MemoryStore(domain="ledger") as s:
        yield s


MIXED = (
    "E-short,A1\n"  # a parse error: too few fields
    'E-quote,"A"1",1.00,\n'  # a parse error: bad quoting
    "E-account,B7,1.00,\n"  # a validation error
    "E-amount,A1,abc,\n"  # a validation error
    "E-zero,A1,0,\n"  # a business error of the command
    f"E-long,A1,1.00,{'x' * 300}\n"  # a field over the length limit
)


async def test_mixed_file_gives_exact_counts_and_exact_rejects(tmp_path: Path, store: MemoryStore) -> None:
    """Good rows and each kind of bad row: 15 applied once, 6 rejected, each with its line, raw text and reason."""
    ledger = Ledger(tmp_path, store, batch_size=4, limits=FileLimits(max_field_chars=200))
    write_entries(ledger.dir / "entries-1.csv", 10, extra=MIXED + "".join(f"G{i},A{i},{i}.00,\n" for i in range(1, 6)))
    report = await ledger.ingest("entries-1.csv")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 21, 15, 6)
    assert report.path == ledger.dir / "archive" / f"{report.file_id}--entries-1.csv"
    assert report.path.exists()
    assert list((ledger.dir / "processing").iterdir()) == []
    assert report.rejects_path is not None
    rejects = [json.loads(line) for line in report.rejects_path.read_text().splitlines()]
    assert rejects == [
        {"record": 11, "line": 12, "reason": "has 2 fields; the header names 4", "raw": "E-short,A1"},
        {"record": 12, "line": 13, "reason": "not valid CSV: ',' expected after '\"'", "raw": 'E-quote,"A"1",1.00,'},
        {
            "record": 13,
            "line": 14,
            "reason": "invalid EntryRow: account: String should match pattern '^A\\d{1,6}$'",
            "raw": "E-account,B7,1.00,",
        },
        {
            "record": 14,
            "line": 15,
            "reason": "invalid EntryRow: amount: Input should be a valid decimal",
            "raw": "E-amount,A1,abc,",
        },
        {
            "record": 15,
            "line": 16,
            "reason": "BusinessRuleError: entry E-zero: an amount of 0 moves nothing",
            "raw": "E-zero,A1,0,",
        },
        {
            "record": 16,
            "line": 17,
            "reason": "field 'note' is 300 characters, over the limit of 200",
            "raw": f"E-long,A1,1.00,{'x' * 300}",
        },
    ]
    counts = await applied(store)
    assert len(counts) == 15
    assert set(counts.values()) == {1}
    expected = expected_balances(10)
    for i in range(1, 6):
        expected[f"A{i}"] = expected.get(f"A{i}", Decimal(0)) + i
    assert await balances(store) == expected
    document = json.loads(report.report_path.read_text()) if report.report_path else {}
    assert {k: document[k] for k in ("outcome", "records", "accepted", "rejected", "reason")} == {
        "outcome": "archived", "records": 21, "accepted": 15, "rejected": 6, "reason": None,
    }  # fmt: skip
    assert document["rejects_file"] == report.rejects_path.name
    assert await ledger.events() == [
        {
            "source": "entries", "file_name": "entries-1.csv", "file_id": report.file_id,
            "sha256": document["sha256"], "outcome": "archived", "records": 21, "accepted": 15, "rejected": 6,
            "reason": None,
        }
    ]  # fmt: skip


async def test_records_of_a_batch_see_each_others_changes(tmp_path: Path, store: MemoryStore) -> None:
    """A hundred entries on one account in one batch add up: each read what the ones before it staged."""
    ledger = Ledger(tmp_path, store, batch_size=500)
    rows = "".join(f"E{i},A1,1.00,\n" for i in range(100))
    (ledger.dir / "entries-1.csv").write_text(f"{HEADER}\n{rows}")
    report = await ledger.ingest("entries-1.csv")
    assert (report.accepted, report.rejected) == (100, 0)
    assert await balances(store) == {"A1": Decimal(100)}


async def test_too_many_rejects_abort_the_file_and_say_why(tmp_path: Path, store: MemoryStore) -> None:
    """Past max_rejects the file stops at that record: what came before stays, the rest is never read."""
    ledger = Ledger(tmp_path, store, batch_size=3, rejects=RejectLimit(max_rejects=2))
    bad = "X1,A1,0,\nX2,A1,0,\nX3,A1,0,\n"
    write_entries(ledger.dir / "entries-1.csv", 5, extra=bad + "".join(f"L{i},A1,1.00,\n" for i in range(5)))
    report = await ledger.ingest("entries-1.csv")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("failed", 8, 5, 3)
    assert report.reason == "3 rejects exceed the limit of 2 (at record 8)"
    assert report.path == ledger.dir / "failed" / f"{report.file_id}--entries-1.csv"
    assert sorted(await applied(store)) == [f"E{i:07d}" for i in range(5)]
    (event,) = await ledger.events()
    assert (event["outcome"], event["records"], event["rejected"], event["reason"]) == ("failed", 8, 3, report.reason)


async def test_a_share_of_rejects_aborts_once_enough_records_were_read(tmp_path: Path, store: MemoryStore) -> None:
    """max_share applies from min_records on: 3 rejects in 4 records exceed 50%."""
    ledger = Ledger(tmp_path, store, rejects=RejectLimit(max_share=0.5, min_records=4))
    write_entries(ledger.dir / "entries-1.csv", 1, extra="X1,A1,0,\nX2,A1,0,\nX3,A1,0,\nE9,A1,1.00,\n")
    report = await ledger.ingest("entries-1.csv")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("failed", 4, 1, 3)
    assert report.reason == "3 rejects in 4 records exceed the limit of 50.0%"


async def test_the_same_content_twice_is_ingested_once_unless_forced(tmp_path: Path, store: MemoryStore) -> None:
    """A second copy is archived as a duplicate naming the first; with force it is ingested again."""
    ledger = Ledger(tmp_path, store)
    write_entries(ledger.dir / "entries-1.csv", 20)
    first = await ledger.ingest("entries-1.csv")
    write_entries(ledger.dir / "entries-2.csv", 20)
    second = await ledger.ingest("entries-2.csv")
    assert (first.outcome, second.outcome) == ("archived", "duplicate")
    assert second.reason is not None
    assert f"as entries-1.csv (file {first.file_id}, archived)" in second.reason
    assert second.path == ledger.dir / "archive" / f"{second.file_id}--entries-2.csv"
    assert set((await applied(store)).values()) == {1}
    write_entries(ledger.dir / "entries-3.csv", 20)
    forced = await ledger.ingest("entries-3.csv", force=True)
    assert (forced.outcome, forced.accepted) == ("archived", 20)
    assert set((await applied(store)).values()) == {2}, "forced: every record ran once more"
    assert [e["file_name"] for e in await ledger.events()] == ["entries-1.csv", "entries-3.csv"]


class FlakyStore(MemoryStore):
    """A memory store whose n-th commit fails as if the database went away."""

    def __init__(self, url: str, *, domain: str, fail_at: int) -> None:
        super().__init__(url, domain=domain)
        self.commits = 0
        self.fail_at = fail_at

    async def _commit(self, changes: Any) -> None:
        self.commits += 1
        if self.commits == self.fail_at:
            raise StoreUnavailable("the database went away")
        await super()._commit(changes)


async def test_an_outage_stops_the_file_and_a_second_run_resumes_it(tmp_path: Path) -> None:
    """The store fails at batch 3: the file waits at its checkpoint; the resume applies the rest, each reject once."""
    async with FlakyStore("memory://outage", domain="ledger", fail_at=3) as flaky:
        ledger = Ledger(tmp_path, flaky, batch_size=5)
        write_entries(ledger.dir / "entries-1.csv", 30, extra="X1,A1,0,\n")
        lines = (ledger.dir / "entries-1.csv").read_text().splitlines()
        lines.insert(8, "X0,A1,0,")  # a reject in the second batch, committed before the outage
        lines.insert(13, "X9,A1,0,")  # a reject in the third batch, written but never committed
        (ledger.dir / "entries-1.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(StoreUnavailable):
            await ledger.ingest("entries-1.csv", lease=0.05)
        assert sorted(p.name.split("--")[1] for p in (ledger.dir / "processing").iterdir()) == [
            "entries-1.csv", "entries-1.csv.rejects.jsonl",
        ]  # fmt: skip
        assert len(await applied(flaky)) == 9
    await asyncio.sleep(0.1)  # the claim's lease runs out (the same process is alive: no shortcut)
    async with MemoryStore("memory://outage", domain="ledger") as healthy:
        report = await Ledger(tmp_path, healthy, batch_size=5).ingest("entries-1.csv")
        assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 33, 30, 3)
        assert set((await applied(healthy)).values()) == {1}
        assert len(await applied(healthy)) == 30
        assert await balances(healthy) == expected_balances(30)
        assert report.rejects_path is not None
        assert [json.loads(line)["raw"] for line in report.rejects_path.read_text().splitlines()] == [
            "X0,A1,0,", "X9,A1,0,", "X1,A1,0,",
        ]  # fmt: skip


async def test_stopping_between_batches_releases_the_file_for_a_resume(tmp_path: Path, store: MemoryStore) -> None:
    """A worker told to stop leaves the file in processing/ after its batch; another resumes it at once."""
    ledger = Ledger(tmp_path, store, batch_size=10)
    write_entries(ledger.dir / "entries-1.csv", 35)
    spec = inbound_files_of(ledger.runtime.domain)["entries"]
    first = SourceWorker(ledger.runtime, spec, owner="first", lease=60)
    first.folders.ensure()
    stopped = await first.take(ledger.dir / "entries-1.csv", stop=lambda: True)
    assert stopped is not None
    assert (stopped.outcome, stopped.records) == ("interrupted", 10)
    (claimed,) = [p for p in (ledger.dir / "processing").iterdir()]
    resumed = await SourceWorker(ledger.runtime, spec, owner="second", lease=60).process(claimed)
    assert (resumed.outcome, resumed.records, resumed.accepted) == ("archived", 35, 35)
    assert set((await applied(store)).values()) == {1}
    assert len(await applied(store)) == 35


class TakenOverStore(MemoryStore):
    """A memory store where another worker takes the file's claim right after its first batch commits."""

    async def _commit(self, changes: Any) -> None:
        await super()._commit(changes)
        progress = next((c.file_progress for c in changes if c.file_progress), None)
        if progress is not None and progress.after == 0:
            held = await self.inbound_file(progress.file_id)
            assert held is not None
            await self.claim_file(replace(held, owner="intruder"), 60, replace_owner=held.owner)


async def test_a_worker_whose_claim_was_taken_over_stops_without_applying(tmp_path: Path) -> None:
    """A worker whose claim was taken over is fenced off at its next batch; the new holder applies the rest once."""
    async with TakenOverStore(domain="ledger") as store:
        ledger = Ledger(tmp_path, store, batch_size=10)
        write_entries(ledger.dir / "entries-1.csv", 30)
        spec = inbound_files_of(ledger.runtime.domain)["entries"]
        worker = SourceWorker(ledger.runtime, spec, owner="slow", lease=60)
        worker.folders.ensure()
        report = await worker.take(ledger.dir / "entries-1.csv")
        assert report is not None
        assert (report.outcome, report.reason) == (
            "busy",
            f"inbound file entries-1.csv ({report.file_id}) is now held by intruder",
        )
        assert len(await applied(store)) == 10, "only the batch committed before the take-over"
        (claimed,) = [p for p in (ledger.dir / "processing").glob("*.csv")]
        resumed = await SourceWorker(ledger.runtime, spec, owner="intruder", lease=60).process(claimed)
        assert (resumed.outcome, resumed.records, resumed.accepted) == ("archived", 30, 30)
        assert set((await applied(store)).values()) == {1}
        assert len(await applied(store)) == 30


class Counter(Aggregate):
    """Counts hits (ones) and meddling writes (thousands)."""

    hits: int = 0


class Hit(BaseModel):
    """A record of a hits file."""

    id: str
    meddle: bool = False


MEDDLER: list[MemoryStore] = []


async def hit(ctx: Context, data: Hit) -> None:
    """Count a hit; a meddling record also has 'another writer' change the counter before the commit."""
    counter = await ctx.find(Counter, "c") or Counter(id="c")
    counter.hits += 1
    await ctx.save(counter)
    if data.meddle:
        store = MEDDLER[0]
        stored = await store.load("Counter", "c")
        version, hits = (stored.version, json.loads(stored.data)["hits"]) if stored else (0, 0)
        document = Counter(id="c", hits=hits + 1000, version=version + 1).model_dump_json()
        await store.commit([ChangeSet(writes=[AggregateWrite("Counter", "c", version, version + 1, document)])])


def _hits_domain(tmp_path: Path, store: MemoryStore) -> Domain:
    """A domain whose file of hits runs ``hit`` per record in batches of 10, meddling through ``store``."""
    MEDDLER[:] = [store]
    domain = Domain("hits")
    domain.aggregate(Counter)
    domain.command(hit)
    (tmp_path / "in").mkdir()
    domain.inbound_file("hits", directory=tmp_path / "in", command=hit, batch_size=10)
    return domain


async def test_a_batch_refused_for_a_conflict_is_redone_record_by_record(tmp_path: Path, store: MemoryStore) -> None:
    """A conflicting batch is redone record by record: the one that keeps conflicting is rejected, the rest apply."""
    domain = _hits_domain(tmp_path, store)
    (tmp_path / "in" / "hits.csv").write_text("id,meddle\nh1,\nh2,\nm3,true\nh4,\n")
    runtime = DomainRuntime(domain, store, MemoryBroker())
    report = await ingest_file(runtime, "hits", tmp_path / "in" / "hits.csv")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 4, 3, 1)
    assert report.rejects_path is not None
    (reject,) = [json.loads(line) for line in report.rejects_path.read_text().splitlines()]
    assert (reject["record"], reject["raw"]) == (3, "m3,true")
    assert reject["reason"].startswith("kept conflicting with concurrent changes: ")
    stored = await store.load("Counter", "c")
    assert stored is not None
    hits = json.loads(stored.data)["hits"]
    assert (hits // 1000, hits % 1000) == (6, 3), "6 meddling writes (1 in the batch, 5 alone), 3 hits once each"


async def test_an_invalid_record_of_a_redone_batch_is_rejected_once_with_its_reason(
    tmp_path: Path, store: MemoryStore
) -> None:
    """In the record-by-record redo, an invalid record is rejected as in the batch (its reason, its line),
    once, beside the one that keeps conflicting; the others apply once each."""
    domain = _hits_domain(tmp_path, store)
    (tmp_path / "in" / "hits.csv").write_text("id,meddle\nh1,\nb2,maybe\nm3,true\nh4,\n")
    report = await ingest_file(DomainRuntime(domain, store, MemoryBroker()), "hits", tmp_path / "in" / "hits.csv")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 4, 2, 2)
    assert report.rejects_path is not None
    rejects = [json.loads(line) for line in report.rejects_path.read_text().splitlines()]
    assert [(r["record"], r["line"], r["raw"]) for r in rejects] == [(2, 3, "b2,maybe"), (3, 4, "m3,true")]
    assert rejects[0]["reason"].startswith("invalid Hit: meddle: ")
    stored = await store.load("Counter", "c")
    assert stored is not None
    hits = json.loads(stored.data)["hits"]
    assert (hits // 1000, hits % 1000) == (6, 2), "6 meddling writes (1 in the batch, 5 alone), 2 hits once each"


def _as_jsonl(rows: list[tuple[str, str, str]]) -> bytes:
    return gzip.compress("".join(json.dumps({"id": i, "account": a, "amount": m}) + "\n" for i, a, m in rows).encode())


def _as_fixed(rows: list[tuple[str, str, str]]) -> bytes:
    return "".join(f"{i:<10}{a:<6}{int(Decimal(m) * 100):+09d}\r\n" for i, a, m in rows).encode("cp037")


def _as_csv(rows: list[tuple[str, str, str]]) -> bytes:
    return ("\ufeffNr;Konto;Betrag\n" + "".join(f"{i};{a};{m}\n" for i, a, m in rows)).encode("utf-8")


FORMATS = {
    "csv-bom-semicolon": (
        CsvFormat(delimiter=";", columns={"Nr": "id", "Konto": "account", "Betrag": "amount"}),
        _as_csv,
    ),
    "jsonl-gzip": (JsonLinesFormat(), _as_jsonl),
    "fixed-width-ebcdic": (
        FixedWidthFormat(
            fields=(
                FixedField(name="id", start=1, length=10),
                FixedField(name="account", start=11, length=6),
                FixedField(name="amount", start=17, length=9, type="decimal", scale=2),
            ),
            encoding="cp037",
        ),
        _as_fixed,
    ),
}


@pytest.mark.parametrize("kind", FORMATS)
async def test_every_format_ingests_the_same_records(tmp_path: Path, store: MemoryStore, kind: str) -> None:
    """CSV (BOM, semicolons, renamed columns), gzip JSON Lines and EBCDIC fixed-width give the same entries."""
    fmt, encode = FORMATS[kind]
    ledger = Ledger(tmp_path, store, format=fmt, batch_size=7)
    rows = [(f"E{i:07d}", f"A{i % 10}", f"{i % 9 + 1}.00") for i in range(40)]
    (ledger.dir / "entries-1.dat").write_bytes(encode(rows))
    report = await ledger.ingest("entries-1.dat")
    assert (report.outcome, report.records, report.accepted, report.rejected) == ("archived", 40, 40, 0)
    assert await balances(store) == expected_balances(40)


async def test_a_header_that_does_not_fit_the_record_fails_the_file(tmp_path: Path, store: MemoryStore) -> None:
    """A header without a required column fails the file at once, naming the column, with nothing applied."""
    ledger = Ledger(tmp_path, store)
    (ledger.dir / "entries-1.csv").write_text("id,account,note\nE1,A1,x\n")
    report = await ledger.ingest("entries-1.csv")
    assert (report.outcome, report.records) == ("failed", 0)
    assert report.reason == "the header has no column for ['amount'] (it has ['id', 'account', 'note']) (line 1)"
    assert await applied(store) == {}
    assert [(e["outcome"], e["records"]) for e in await ledger.events()] == [("failed", 0)]
