"""Two small domains for fault tests: ``payment`` records payments, ``receipt`` applies each one once.

A receipt counts how many times its payment was applied (``applied``), so a message handled twice shows up
as a counter of 2 instead of hiding behind an idempotent write. A payment flagged ``poison`` makes the
receipt handler fail until the fix is applied: ``FAULT_APP_FIXED=1`` in the environment (for
subprocesses) or ``fault_app.FIXED = True`` (in-process).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PublicEvent

payment = Domain("payment", description="Records payments and tells the other domains")
receipt = Domain("receipt", description="Applies every recorded payment exactly once")
DOMAINS = [payment, receipt]

FIX_ENV = "FAULT_APP_FIXED"
FIXED = False


def fix_applied() -> bool:
    """True once the bug behind poison payments is 'fixed' (flag or environment variable)."""
    return FIXED or os.environ.get(FIX_ENV) == "1"


@payment.aggregate
class Payment(Aggregate):
    """A payment, recorded once."""

    amount: int
    poison: bool = False


@payment.event
class PaymentRecorded(PublicEvent):
    """A payment was recorded."""

    payment_id: str
    amount: int
    poison: bool = False


class RecordPayment(BaseModel):
    """Input of record_payment."""

    id: str = Field(min_length=1, max_length=64)
    amount: int
    poison: bool = False


@payment.command
async def record_payment(ctx: Context, data: RecordPayment) -> Payment:
    """Record a payment and emit PaymentRecorded; a retried command (same id) changes and emits nothing."""
    existing = await ctx.find(Payment, data.id)
    if existing is not None:
        return existing
    new = Payment(id=data.id, amount=data.amount, poison=data.poison)
    await ctx.save(new)
    ctx.emit(PaymentRecorded(payment_id=new.id, amount=new.amount, poison=new.poison), about=new)
    return new


@receipt.aggregate
class Receipt(Aggregate):
    """The receipt of one payment; ``applied`` counts every application of its event."""

    amount: int
    applied: int = 0


class ApplyPayment(BaseModel):
    """Input of apply_payment."""

    payment_id: str
    amount: int


@receipt.command
async def apply_payment(ctx: Context, data: ApplyPayment) -> Receipt:
    """Create the payment's receipt, or count one more application on it (which the inbox must prevent)."""
    found = await ctx.find(Receipt, data.payment_id)
    current = found or Receipt(id=data.payment_id, amount=data.amount)
    current.applied += 1
    await ctx.save(current)
    return current


@receipt.on(PaymentRecorded)
async def payment_recorded(ctx: Context, event: PaymentRecorded) -> None:
    """Apply the payment; a poison payment fails until the fix is applied.

    It fails *after* its command staged the receipt, so a failed attempt that leaked its writes would show
    as a receipt applied once too often.
    """
    await ctx.execute(apply_payment, {"payment_id": event.payment_id, "amount": event.amount})
    if event.poison and not fix_applied():
        raise RuntimeError(f"cannot apply poison payment {event.payment_id}: the fix is not deployed")
