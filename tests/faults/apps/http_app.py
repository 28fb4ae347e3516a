"""fault_app's two domains with ``record_payment`` served over HTTP (``POST /payments``), for tests that drive
a landscape run by ``interlink run`` from outside, e.g. ``interlink run http_app --workers 2 --http ...``."""

from __future__ import annotations

from typing import Any

from fault_app import (  # type: ignore[import-not-found]  # apps/ is on sys.path
    Payment,
    RecordPayment,
    payment,
    receipt,
    record_payment,
)

from interlink import Context

__all__ = ["Context", "Payment", "RecordPayment", "payment", "post_payment", "receipt"]


async def post_payment(ctx: Any, data: Any) -> Any:
    """record_payment over HTTP: a retried request (same id) changes and emits nothing."""
    return await record_payment(ctx, data)


# The input model is read from the annotations of the function registered: record_payment's own, whose names
# (Context, RecordPayment, Payment) resolve in this module.
post_payment.__annotations__ = dict(record_payment.__annotations__)
payment.command(http="POST /payments")(post_payment)
