"""`spec diff` checks each consumer's declared needs against its producer's new specifications."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model
from typer.testing import CliRunner

from interlink import Context, Domain
from interlink.cli.main import app
from interlink.core.messages import NotificationEvent
from interlink.patterns.state_transfer.declarations import StateTransferEvent
from interlink.specs.bundle import write_bundle

runner = CliRunner()

LOAN_CHANGED: dict[str, Any] = {"amount": (int, ...), "status": (str, ...), "customer_id": (str, ...)}


def producer(carried: dict[str, Any] = LOAN_CHANGED, *, notifies: bool = True, path: str = "/loans/{id}") -> Domain:
    """One version of ``loans``: a fat LoanChanged event, a thin LoanNoted unless told otherwise, and the API
    a notified consumer reads a loan back from."""
    domain = Domain("loans")
    domain.event(create_model("LoanChanged", __base__=StateTransferEvent, **carried))
    if notifies:
        domain.event(create_model("LoanNoted", __base__=NotificationEvent))

    async def get_loan(ctx: Context, id: str) -> dict[str, str]:
        """One loan."""
        return {"id": id}

    domain.query(http=f"GET {path}")(get_loan)
    return domain


def consumer(loans: Domain) -> Domain:
    """``credit``: keeps amount and status of loans in a replica, and is notified of noted loans."""
    domain = Domain("credit")
    domain.replica(loans.events["LoanChanged"], fields=["amount", "status"])  # type: ignore[arg-type]
    api = domain.external_service("loans", resource="/loans/{id}", translate=lambda raw: raw)
    data = create_model("Noted", __base__=BaseModel, id=(str, ...))

    async def keep(ctx: Context, data: BaseModel) -> None:
        """Keep the fetched loan."""

    keep.__annotations__ = {"ctx": Context, "data": data, "return": None}
    domain.command(keep)
    domain.on_notification(loans.events["LoanNoted"], fetch=api, command=keep)  # type: ignore[arg-type]
    return domain


def diff(tmp_path: Path, old: list[Domain], new: list[Domain]) -> tuple[int, list[str]]:
    """Bundle both landscapes and run `interlink spec diff` on the folders."""
    write_bundle(old, tmp_path / "old")
    write_bundle(new, tmp_path / "new")
    result = runner.invoke(app, ["spec", "diff", str(tmp_path / "old"), str(tmp_path / "new")])
    return result.exit_code, result.output.splitlines()


def test_a_replica_field_the_producer_no_longer_sends_breaks_the_unchanged_consumer(tmp_path: Path) -> None:
    """The producer drops a field the consumer's replica reads: exit 1, naming consumer, producer, message, field."""
    before = producer()
    after = producer({k: v for k, v in LOAN_CHANGED.items() if k != "status"})
    code, lines = diff(tmp_path, [before, consumer(before)], [after, consumer(before)])
    assert code == 1, lines
    assert (
        "breaking: credit/asyncapi.json operation credit_replica_loans_loan_changed: consumer credit reads field "
        "'status' of loans.LoanChanged from producer loans, which its event no longer carries"
    ) in lines


def test_a_field_no_replica_reads_breaks_no_consumer(tmp_path: Path) -> None:
    """Dropping a field nobody's replica reads is breaking for the producer's document only."""
    before = producer()
    after = producer({k: v for k, v in LOAN_CHANGED.items() if k != "customer_id"})
    code, lines = diff(tmp_path, [before, consumer(before)], [after, consumer(before)])
    assert code == 1
    assert [line for line in lines if line.startswith("breaking")] == [
        # The producer kept its version: its documents say a breaking change needs the next major one.
        "breaking: loans/asyncapi.json: version 1.0.0 -> 1.0.0: 1 breaking change(s) need a new major version (2.0.0)",
        "breaking: loans/asyncapi.json message loans.LoanChanged: field 'customer_id' removed",
    ]


def test_a_notification_the_producer_no_longer_emits_breaks_its_subscriber(tmp_path: Path) -> None:
    """The producer stops emitting an event a consumer is notified by: named, even when only the producer's new
    documents are given (the consumer's needs come from the old bundle)."""
    before = producer()
    after = producer(notifies=False)
    expected = (
        "breaking: credit/asyncapi.json operation credit_on_loan_noted: consumer credit subscribes to loans.LoanNoted "
        "of producer loans, which loans no longer emits"
    )
    code, lines = diff(tmp_path / "both", [before, consumer(before)], [after, consumer(before)])
    assert code == 1
    assert expected in lines
    code, lines = diff(tmp_path / "producer-only", [before, consumer(before)], [after])
    assert code == 1
    assert expected in lines


def test_a_resource_the_producer_no_longer_serves_breaks_the_notified_consumer(tmp_path: Path) -> None:
    """The producer moves the resource a notification fetches: named; a renamed path parameter changes nothing."""
    before = producer()
    code, lines = diff(
        tmp_path / "moved", [before, consumer(before)], [producer(path="/v2/loans/{id}"), consumer(before)]
    )
    assert code == 1
    assert (
        "breaking: credit/asyncapi.json operation credit_on_loan_noted: consumer credit fetches GET /loans/{id} from "
        "producer loans (credit_on_loan_noted), which the API of loans no longer serves"
    ) in lines
    code, lines = diff(
        tmp_path / "renamed", [before, consumer(before)], [producer(path="/loans/{loan_id}"), consumer(before)]
    )
    assert not [line for line in lines if "fetches" in line]


def test_needs_that_are_met_add_nothing(tmp_path: Path) -> None:
    """An optional field added to the fat event keeps every consumer's needs met: exit 0."""
    before = producer()
    after = producer({**LOAN_CHANGED, "note": (str | None, None)})
    code, lines = diff(tmp_path, [before, consumer(before)], [after, consumer(before)])
    assert code == 0, lines
    assert lines[-1] == "0 breaking change(s), 1 compatible change(s)"
