"""Order-preserving dead letters on every store x broker pair: a parked message holds back the later messages
about its aggregate only (the others flow), and replaying it after the fix, or discarding it, lets them through
in their order."""

from __future__ import annotations

from tests.integration.conftest import Backends
from tests.support.ordered_ledger import discarded, replayed


async def test_a_parked_message_holds_its_aggregate_until_replayed(backends: Backends) -> None:
    """A2 parked holds A3, A4 (and A5, sent later) but not B; its replay after the fix applies A2..A5 in order."""
    await replayed(backends.store, backends.broker)


async def test_discarding_the_parked_message_lets_the_held_ones_through(backends: Backends) -> None:
    """A2 discarded from the store alone (as the CLI does): the runtime hands A3 then A4 to the handler, in order."""
    await discarded(backends.store, backends.broker)
