"""Fixtures-in-code shared by the store contract's parts: sample writes, messages and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import (
    AggregateWrite,
    DeadLetter,
    OutboxStatus,
    Store,
)

__all__ = ["KIND", "SUB", "StoreContractBase"]

KIND = "Account"
SUB = "test-domain.handlers"


def _create(id: str, data: str = '{"n": 1}', kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, 0, 1, data)


def _update(id: str, expected: int, data: str, kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, expected, expected + 1, data)


def _delete(id: str, expected: int, kind: str = KIND) -> AggregateWrite:
    return AggregateWrite(kind, id, expected, expected + 1, None)


def _message(n: int, *, ordering_key: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        f"msg-{n}", "test-domain.events", "test-domain.AccountOpened", f'{{"n": {n}}}'.encode(), ordering_key
    )


def _letter(n: int, subscription: str = SUB) -> DeadLetter:
    return DeadLetter(
        subscription=subscription,
        message_id=f"dead-{n}",
        message_type="other-domain.Thing",
        body=b'{"not": "processable"}\x00\xff',
        error=f"InvalidPayload: attempt {n} went wrong",
        attempts=n,
        failed_at=datetime(2024, 5, 1, 12, 30, n, tzinfo=UTC),
    )


class StoreContractBase:
    """Base of the store contract's parts: the helpers every part uses.

    Subclasses define the ``store`` fixture (see the module docstring); it is not declared here so that a
    subclass's fixture may ask for any other fixture it needs (``tmp_path``, a database URL, ...).
    """

    async def _assert_empty(self, store: Store, *ids: str) -> None:
        for id in ids:
            assert await store.load(KIND, id) is None
        assert await store.outbox_batch(100) == []
        assert await store.outbox_status() == OutboxStatus(0, None)
        assert await store.dead_letters() == []
