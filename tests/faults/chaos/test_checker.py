"""The chaos checker on snapshots built by hand: a consistent one counts clean, and each defect the soak looks
for (an effect missing or doubled, a copy behind, a saga stuck, a letter parked, an outbox row left) is
counted as such. So a clean chaos run means the checker looked, not that it could not see."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.ports.store import DeadLetter, InboundFile

from .checker import judge
from .client import Operation
from .config import ChaosConfig
from .load import BranchFile, Load, LoanPlan, Move
from .snapshot import Doc, Snapshot

OFFERED = LoanPlan("L00001", "K000000", 2_000, 60)
TOO_LONG = LoanPlan("L00002", "K000001", 2_000, 180)
MOVE = Move("K000001", "Chaos street 3", "1011 AB", "Amsterdam")


def _load(tmp_path: Path) -> Load:
    load = Load({}, {}, tmp_path, ChaosConfig(), random.Random(0))
    for plan in (OFFERED, TOO_LONG):
        load.loans.append((plan, Operation(f"submit-{plan.id}", "POST", "/loan-requests", {}, acknowledged=True)))
    load.moves.append((MOVE, Operation("move-00003", "PUT", "/customers/K000001/address", {}, acknowledged=True)))
    load.files.append(BranchFile("customers-chaos-000.csv", ("K000000", "K000001")))
    return load


def _loan_docs(plan: LoanPlan, status: str, credit: str, saga: str) -> dict[str, dict[str, Doc]]:
    data = {"loan_request_id": plan.id}
    return {
        "loans": {plan.id: Doc(4, {"status": status, "credit": credit})},
        "sagas": {f"s-{plan.id}": Doc(3, {"status": saga, "step": 2, "data": data})},
        "offers": {plan.id: Doc(2, {"status": credit})},
        "replicas": {plan.id: Doc(4, {})},
        "sms": {f"{what}-{plan.id}": Doc(1, {"requests": 1}) for what in ("received", "decision")},
        "notices": {f"{what}-{plan.id}": Doc(1, {"outcome": "confirmed"}) for what in ("received", "decision")},
    }


def _consistent() -> Snapshot:
    one = _loan_docs(OFFERED, "offered", "offered", "completed")
    two = _loan_docs(TOO_LONG, "declined", "released", "compensated")
    file = InboundFile("f1", "branch-customers", "customers-chaos-000.csv", "sha", 10, "owner", state="archived")
    customers = {"K000000": Doc(1, {}), "K000001": Doc(2, {"address": {"street": MOVE.street}})}
    return Snapshot(
        customers=customers,
        credit_files=set(customers),
        borrowers={id: Doc(c.version, {"customer_version": c.version}) for id, c in customers.items()},
        loans=one["loans"] | two["loans"],
        sagas=one["sagas"] | two["sagas"],
        notices=one["notices"] | two["notices"],
        offers=one["offers"] | two["offers"],
        replicas=one["replicas"] | two["replicas"],
        sms=one["sms"] | two["sms"],
        profiles={id: Doc(1, {"customer_version": c.version}) for id, c in customers.items()},
        requests={"loan-request": {}},
        dead_letters={"loan-request": []},
        outbox={"loan-request": 0},
        files={"customers-chaos-000.csv": file},
    )


def test_a_consistent_snapshot_counts_every_operation_applied(tmp_path: Path) -> None:
    """Two loan requests, one move and two file rows, all in the stores as asked: applied, nothing bad."""
    tally = judge(_consistent(), _load(tmp_path), {"K000000": None, "K000001": None}, [])
    assert (tally.acknowledged, tally.applied, tally.bad()) == (5, 5, {})


def _set(snap: Snapshot, attr: str, key: str, value: Doc | None) -> None:
    table = getattr(snap, attr)
    if value is None:
        del table[key]
    else:
        table[key] = value


SMS_REQUEST = Doc(
    1, {"command_type": "SendSms", "to": "customer-communication", "command": {"sms_id": "decision-L00001"}}
)


def _saga(snap: Snapshot, loan_request_id: str, status: str) -> None:
    snap.sagas[f"s-{loan_request_id}"] = Doc(
        3, {"status": status, "step": 1, "data": {"loan_request_id": loan_request_id}}
    )


LETTER = DeadLetter("customers", "m1", "customer.CustomerChanged", b"{}", "circuit open", 5, datetime.now(UTC))
DEFECTS: dict[str, tuple[Callable[[Snapshot], None], dict[str, int]]] = {
    "SMS run twice": (lambda s: _set(s, "sms", "received-L00001", Doc(2, {"requests": 2})), {"duplicated": 1}),
    "SMS never sent": (lambda s: _set(s, "sms", "decision-L00002", None), {"lost": 1}),
    "SMS timed out": (
        lambda s: _set(s, "notices", "received-L00001", Doc(1, {"outcome": "timed_out", "reason": "late"})),
        {"lost": 1},
    ),
    "two sagas": (
        lambda s: _set(s, "sagas", "s-again", Doc(1, {"status": "completed", "data": {"loan_request_id": "L00001"}})),
        {"duplicated": 1},
    ),
    "saga running": (lambda s: _saga(s, "L00001", "running"), {"stuck": 1, "unfinished": 1}),
    "saga failed": (lambda s: _saga(s, "L00002", "failed"), {"wrong": 1}),
    "move lost": (lambda s: _set(s, "customers", "K000001", Doc(1, {})), {"lost": 1, "stale": 2}),
    "move applied twice": (
        lambda s: _set(s, "customers", "K000001", Doc(3, {"address": {"street": MOVE.street}})),
        {"duplicated": 1, "stale": 2},
    ),
    "file row lost": (lambda s: _set(s, "customers", "K000000", None), {"lost": 1}),
    "borrower behind": (lambda s: _set(s, "borrowers", "K000001", Doc(1, {"customer_version": 1})), {"stale": 1}),
    "replica behind": (lambda s: _set(s, "replicas", "L00002", Doc(3, {})), {"stale": 1}),
    "credit not followed": (
        lambda s: _set(s, "loans", "L00001", Doc(4, {"status": "offered", "credit": "reserved"})),
        {"stale": 1},
    ),
    "profile behind": (lambda s: _set(s, "profiles", "K000001", Doc(1, {"customer_version": 1})), {"stale": 1}),
    "letter parked": (lambda s: s.dead_letters["loan-request"].append(LETTER), {"dead_lettered": 1}),
    "outbox left": (lambda s: s.outbox.update({"loan-request": 3}), {"outbox": 3}),
    "request outstanding": (
        lambda s: s.requests["loan-request"].update({"c1": SMS_REQUEST}),
        {"stuck": 1, "unfinished": 1},
    ),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_counted(defect: str, tmp_path: Path) -> None:
    """A snapshot with one defect planted: exactly the counts that defect must raise."""
    snap = _consistent()
    plant, expected = DEFECTS[defect]
    plant(snap)
    tally = judge(snap, _load(tmp_path), {"K000000": None, "K000001": None}, [])
    assert tally.bad() == expected, tally.report()


def test_a_score_given_stale_and_an_unacknowledged_operation_count(tmp_path: Path) -> None:
    """A score risk-assessment gave on a stale profile, and an operation never acknowledged, are both bad."""
    load = _load(tmp_path)
    load.moves.append((MOVE, Operation("move-00004", "PUT", "/customers/K000001/address", {})))
    tally = judge(_consistent(), load, {"K000000": "given on a stale profile (stale: true)", "K000001": None}, [])
    assert tally.bad() == {"stale": 1, "unanswered": 1}, tally.report()
