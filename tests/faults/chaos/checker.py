"""Judging a snapshot of the stores against what the load asked for: each acknowledged operation applied
exactly once, no dead letter, every copy at its source's latest version, every saga ended, outboxes empty.

The checker only reads: it replays nothing and excuses nothing. Risk assessment's deferred copies are
judged once read (``scores``: what reading each customer's score answered, read through the API).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping

import httpx

from .load import Load, LoanPlan, Move
from .processes import Crash
from .snapshot import Snapshot
from .tally import Tally

__all__ = ["judge", "read_scores"]

ENDED = {"completed", "compensated", "failed"}


def judge(snap: Snapshot, load: Load, scores: Mapping[str, str | None] | None, crashes: Iterable[Crash]) -> Tally:
    """The counts of ``snap``; ``scores`` None leaves risk-assessment's profiles out (not read yet)."""
    tally = Tally()
    _loans(tally, snap, load)
    _moves(tally, snap, load)
    _files(tally, snap, load)
    _copies(tally, snap, scores)
    _framework(tally, snap)
    for crash in crashes:
        tally.add("crashed", crash.describe())
    return tally


def _loans(tally: Tally, snap: Snapshot, load: Load) -> None:
    under_way_sms = snap.sms_under_way()
    for plan, op in load.loans:
        if not op.acknowledged:
            tally.add("unanswered", op.describe())
            continue
        tally.acknowledged += 1
        verdict, why = _loan(plan, snap, under_way_sms)
        tally.add(verdict, None if verdict == "applied" else f"loan request {plan.id} ({plan}): {why}")


def _loan(plan: LoanPlan, snap: Snapshot, under_way_sms: set[str]) -> tuple[str, str]:
    missing, doubled, under_way, wrong = list[str](), list[str](), list[str](), list[str]()
    loan, sagas = snap.loans.get(plan.id), snap.sagas_of(plan.id)
    if loan is None:
        missing.append("no LoanRequest in loan-request")
    if len(sagas) > 1:
        doubled.append(f"{len(sagas)} loan origination sagas")
    elif not sagas:
        missing.append("no loan origination saga")
    else:
        saga = sagas[0].fields
        expected = "completed" if plan.decision == "offered" else "compensated"
        if saga["status"] not in ENDED:
            under_way.append(f"saga {saga['status']} at step {saga['step']}, awaiting {saga.get('awaiting')}")
        elif saga["status"] != expected:
            wrong.append(f"saga {saga['status']} ({saga.get('reason')}), not {expected}")
    if not under_way:
        if loan is not None and loan.fields["status"] != plan.decision:
            wrong.append(f"loan request {loan.fields['status']}, not {plan.decision}")
        offer = snap.offers.get(plan.id)
        status = offer.fields["status"] if offer else None
        if status != plan.offer:
            wrong.append(f"credit offer {status}, not {plan.offer}")
    for what in ("received", "decision"):
        sms_id = f"{what}-{plan.id}"
        sms, notice = snap.sms.get(sms_id), snap.notices.get(sms_id)
        if sms is not None and sms.fields["requests"] > 1:
            doubled.append(f"SMS {sms_id} run {sms.fields['requests']} times")
        if sms_id in under_way_sms:
            under_way.append(f"SMS {sms_id} awaiting its answer")
        elif sms is None and not under_way:
            missing.append(f"no SMS {sms_id} at customer-communication")
        elif notice is None and not under_way:
            missing.append(f"no answer to SMS {sms_id} recorded")
        elif notice is not None and notice.fields["outcome"] != "confirmed":
            missing.append(f"SMS {sms_id} {notice.fields['outcome']}: {notice.fields.get('reason')}")
    for verdict, why in (("duplicated", doubled), ("stuck", under_way), ("lost", missing), ("wrong", wrong)):
        if why:
            return verdict, "; ".join(why)
    return "applied", ""


def _moves(tally: Tally, snap: Snapshot, load: Load) -> None:
    by_customer: dict[str, list[tuple[Move, bool]]] = defaultdict(list)
    for move, op in load.moves:
        by_customer[move.customer_id].append((move, op.acknowledged))
        if not op.acknowledged:
            tally.add("unanswered", op.describe())
    for customer_id, moves in by_customer.items():
        acked = sum(1 for _, ok in moves if ok)
        tally.acknowledged += acked
        found = snap.customers.get(customer_id)
        # Registered at version 1, then one version a move; a move never acknowledged may or may not count.
        low = 1 + acked
        high = low + len(moves) - acked
        if found is None:
            tally.add("lost", f"customer {customer_id}: gone, {acked} acknowledged moves", acked)
        elif found.version < low:
            tally.add(
                "lost",
                f"customer {customer_id}: version {found.version}, {acked} acknowledged moves",
                low - found.version,
            )
            tally.applied += acked - (low - found.version)
        elif found.version > high:
            n = min(acked, found.version - high)
            tally.add("duplicated", f"customer {customer_id}: version {found.version}, at most {high} asked for", n)
            tally.applied += acked - n
        elif moves[-1][1] and (found.fields.get("address") or {}).get("street") != moves[-1][0].street:
            street = (found.fields.get("address") or {}).get("street")
            tally.add("wrong", f"customer {customer_id}: at {street!r}, not at the last move's {moves[-1][0].street!r}")
            tally.applied += acked - 1
        else:
            tally.applied += acked


def _files(tally: Tally, snap: Snapshot, load: Load) -> None:
    for file in load.files:
        record = snap.files.get(file.name)
        finished = record is not None and record.state == "archived"
        if not finished:
            state = record.state if record else "no report"
            tally.add("unfinished", f"branch file {file.name}: {state}")
        if record is not None and record.rejected:
            tally.add("rejected", f"branch file {file.name}: {record.rejected} good rows rejected", record.rejected)
        for id in file.ids:
            tally.acknowledged += 1
            if id not in snap.customers:
                tally.add("lost" if finished else "stuck", f"customer {id} of {file.name} not registered")
            elif id not in snap.credit_files:
                tally.add("lost", f"customer {id}: no credit file opened at loan-request on CustomerRegistered")
            else:
                tally.applied += 1


def _copies(tally: Tally, snap: Snapshot, scores: Mapping[str, str | None] | None) -> None:
    for id, customer in snap.customers.items():
        borrower = snap.borrowers.get(id)
        if borrower is None:
            tally.add("stale", f"loan-request has no borrower {id}, customer at version {customer.version}")
        elif borrower.fields["customer_version"] != customer.version:
            kept = borrower.fields["customer_version"]
            tally.add("stale", f"loan-request's borrower {id} at version {kept}, customer at {customer.version}")
        if scores is None:
            continue
        profile = snap.profiles.get(id)
        kept = profile.fields["customer_version"] if profile else None
        if scores.get(id):
            tally.add("stale", f"risk-assessment's score of {id}: {scores[id]}")
        elif kept != customer.version:
            tally.add("stale", f"risk-assessment's profile {id} read at version {kept}, customer at {customer.version}")
    for id, loan in snap.loans.items():
        replica = snap.replicas.get(id)
        if replica is None or replica.version != loan.version:
            kept = replica.version if replica else None
            tally.add("stale", f"credit-offer's copy of {id} at version {kept}, loan request at {loan.version}")
        offer = snap.offers.get(id)
        status = offer.fields["status"] if offer else "none"
        if loan.fields["credit"] != status:
            tally.add("stale", f"loan request {id}'s credit {loan.fields['credit']}, its offer {status}")


def _framework(tally: Tally, snap: Snapshot) -> None:
    for id, saga in snap.sagas.items():
        if saga.fields["status"] not in ENDED:
            fields = saga.fields
            tally.add("unfinished", f"saga {id} ({fields['data'].get('loan_request_id')}) {fields['status']} at "
                                    f"step {fields['step']}, awaiting {fields.get('awaiting')}")  # fmt: skip
    for domain, requests in snap.requests.items():
        for id, request in requests.items():
            fields = request.fields
            tally.add("unfinished", f"{domain}: request {fields['command_type']} {id} to {fields['to']} outstanding")
    for domain, letters in snap.dead_letters.items():
        for letter in letters:
            line = (f"{domain} {letter.subscription}: {letter.message_type} parked after {letter.attempts} "
                    f"attempt(s): {letter.error[:400]}")  # fmt: skip
            tally.add("dead_lettered", line)
    for domain, pending in snap.outbox.items():
        if pending:
            tally.add("outbox", f"{domain}: {pending} rows not sent", pending)


async def read_scores(url: str, customer_ids: Iterable[str]) -> dict[str, str | None]:
    """Read every customer's score at risk-assessment (``url``): None when fresh, else what was wrong."""
    found: dict[str, str | None] = {}
    gate = asyncio.Semaphore(8)

    async def read(http: httpx.AsyncClient, id: str) -> None:
        async with gate:
            for _ in range(5):
                try:
                    answer = await http.get(f"{url}/scores/{id}", params={"amount": 1000})
                except httpx.TransportError as exc:
                    found[id] = f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(1)
                    continue
                if answer.status_code != 200:
                    found[id] = f"answered {answer.status_code}: {answer.text[:300]}"
                else:
                    found[id] = "given on a stale profile (stale: true)" if answer.json()["stale"] else None
                return

    async with httpx.AsyncClient(trust_env=False, timeout=40) as http:
        await asyncio.gather(*(read(http, id) for id in customer_ids))
    return found
