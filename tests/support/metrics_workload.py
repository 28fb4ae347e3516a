"""A known workload for the metrics tests: replicas, a dead letter and two sagas, with their exact counts."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from interlink import Context, Domain
from interlink.exceptions import InvalidPayload
from interlink.runtime import Runtime
from interlink.testing.waiting import wait_until
from tests.support.command_events_app import StartOrigination, lending, originate, partner
from tests.support.ecst_app import LoanRequestChanged, change_loan, credit, loans

audit = Domain("audit")


@audit.on(LoanRequestChanged)
async def audit_loan(ctx: Context, event: LoanRequestChanged) -> None:
    """Refuses a loan request in status ``bad``: its event is parked at once (a permanent error)."""
    if event.status == "bad":
        raise InvalidPayload(f"loan request {event.id} has status 'bad'")


DOMAINS = [loans, credit, audit, lending, partner]
LOANS = 5  # good loan requests; one more is bad

#: What the workload sends and consumes: 6 fat events, each consumed by credit and audit; three sagas, one
#: completed (3 commands, 3 replies), one compensated and one failed (its second compensation refused), each
#: of those two with 3 commands and 2 compensations, 5 replies.
SENT = LOANS + 1 + (3 + 3) + 2 * (5 + 5)
CONSUMED = 2 * (LOANS + 1) + (3 + 3) + 2 * (5 + 5)
SAGAS = {"running": 3, "completed": 1, "compensating": 2, "compensated": 1, "failed": 1}
#: Replies applied (the confirmation latencies), and those that said failed (two refused steps, one compensation).
REPLIES, FAILED_REPLIES = 13, 3


async def run_workload(runtime: Runtime) -> None:
    """Run the workload and wait until every message is settled."""
    for i in range(LOANS):
        await runtime["loan-request"].execute(change_loan, {"id": f"L{i}", "amount": Decimal(100), "status": "new"})
    await runtime["loan-request"].execute(change_loan, {"id": "L-bad", "amount": Decimal(1), "status": "bad"})
    await runtime["lending"].execute(originate, StartOrigination(ref="ok-1"))
    await runtime["lending"].execute(originate, StartOrigination(ref="fail-1", mode="fail"))
    await runtime["lending"].execute(originate, StartOrigination(ref="stuck-1", mode="release-fails"))

    def settled() -> bool:
        consumers = [c for name in runtime._runtimes for c in runtime[name].consumers]
        done = sum(c.stats.processed + c.stats.dead_lettered for c in consumers)
        return done >= CONSUMED

    await wait_until(settled, 30, what="every message of the workload settled")


def parse(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Prometheus text -> family name -> samples (name, labels, value), through prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families  # the extra: imported when used

    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def total(families: dict[str, list[tuple[str, dict[str, str], float]]], sample: str, **labels: str) -> float:
    """The sum of ``sample`` over the series whose labels include ``labels`` (dots written as underscores)."""
    family = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    return sum(
        value
        for name, found, value in families.get(family, [])
        if name == sample and all(found.get(k) == v for k, v in labels.items())
    )


def families_named(families: Iterable[str], prefix: str) -> list[str]:
    """The family names starting with ``prefix``."""
    return sorted(f for f in families if f.startswith(prefix))
