"""The day's summary: per pattern, what the stores hold beside what the script put in."""

from __future__ import annotations

from examples.bank import DOMAINS
from examples.bank.script import REPLICA, Script
from examples.bank.tally import Count
from interlink.patterns.command_events.sagas import SAGA_KIND

__all__ = ["counts"]


async def counts(day: Script) -> list[Count]:
    """What the stores hold now, beside what the script put in."""
    plan, total, stores = day.plan, day.total, day.land.stores
    offered, customers, changes = plan.loans + plan.outage_loans, plan.customers, plan.customers + plan.moves
    count = day.count

    async def rejected(domain: str) -> int:
        record = await stores[domain].inbound_file(day.files[domain]) if domain in day.files else None
        return record.rejected if record is not None else -1

    eager, deferred = await day.notified("loan-request"), await day.notified("risk-assessment")
    dead = sum([len(await stores[d.name].dead_letters()) for d in DOMAINS])
    scored = plan.loans
    return [
        Count(
            "Inbound File",
            "customer",
            "customers registered from the branch file",
            customers,
            await count("customer", "Customer", channel="branch-file"),
        ),
        Count("Inbound File", "customer", "branch file rows rejected", 1, await rejected("customer")),
        Count(
            "Event capture",
            "loan-request",
            "credit files opened on CustomerRegistered",
            customers,
            await count("loan-request", "CreditFile"),
        ),
        Count("State Change Notification", "loan-request", "CustomerChanged received", changes, eager[0]),
        Count(
            "State Change Notification",
            "loan-request",
            "customers fetched back (at most one a change)",
            changes,
            eager[1],
            at_most=True,
        ),
        Count(
            "State Change Notification",
            "loan-request",
            "borrowers kept, the mover at its last version",
            1,
            await count("loan-request", "Borrower", customer_version=plan.moves + 1),
        ),
        Count("Deferred update", "risk-assessment", "CustomerChanged received", changes, deferred[0]),
        Count("Deferred update", "risk-assessment", "customers fetched (only when scored)", scored + 1, deferred[1]),
        Count(
            "Deferred update",
            "risk-assessment",
            "profiles kept (customers scored)",
            scored,
            await count("risk-assessment", "CustomerProfile"),
        ),
        Count(
            "API Exposure", "loan-request", "loan requests submitted", total, await count("loan-request", "LoanRequest")
        ),
        Count(
            "Saga",
            "loan-request",
            "loan originations completed",
            offered,
            await count("loan-request", SAGA_KIND, status="completed"),
        ),
        Count(
            "Saga",
            "loan-request",
            "loan originations compensated",
            2,
            await count("loan-request", SAGA_KIND, status="compensated"),
        ),
        Count(
            "Saga",
            "loan-request",
            "loan originations failed",
            0,
            await count("loan-request", SAGA_KIND, status="failed"),
        ),
        Count(
            "Command event",
            "credit-offer",
            "credit offered",
            offered,
            await count("credit-offer", "CreditOffer", status="offered"),
        ),
        Count(
            "Command event",
            "credit-offer",
            "reservations released (compensation)",
            1,
            await count("credit-offer", "CreditOffer", status="released"),
        ),
        Count(
            "Event-Carried State Transfer",
            "credit-offer",
            "loan requests replicated",
            total,
            await count("credit-offer", REPLICA),
        ),
        Count(
            "Event-Carried State Transfer",
            "credit-offer",
            "replicas at the final decision",
            total,
            await count("credit-offer", REPLICA, status="offered")
            + await count("credit-offer", REPLICA, status="declined"),
        ),
        Count(
            "Command event",
            "customer-communication",
            "SMS sent (received + decision)",
            2 * total,
            await count("customer-communication", "Sms"),
        ),
        Count(
            "Command event",
            "customer-communication",
            "SMS sent exactly once",
            2 * total,
            await count("customer-communication", "Sms", requests=1),
        ),
        Count(
            "Command event",
            "loan-request",
            "SmsSent confirmations recorded",
            2 * total,
            await count("loan-request", "SmsNotice", outcome="confirmed"),
        ),
        Count(
            "Inbound File",
            "payments",
            "repayments booked from the extract",
            plan.repayments,
            await count("payments", "Repayment"),
        ),
        Count("Inbound File", "payments", "extract lines rejected", 1, await rejected("payments")),
        Count("Delivery", "all six", "dead letters", 0, dead),
    ]
