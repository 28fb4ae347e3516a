"""The public surface is deliberate: these tests pin it, so a change to it is a visible decision."""

from __future__ import annotations

import sqlite3

import pytest

import interlink
import interlink.testing
from interlink import exceptions
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.exceptions import StoreError, StoreUnavailable


def test_top_level_all_is_pinned() -> None:
    """`from interlink import *` gives exactly what a domain author needs."""
    assert sorted(interlink.__all__) == [
        "Aggregate",
        "BusinessRuleError",
        "Command",
        "CommandRejected",
        "Context",
        "CsvFormat",
        "Domain",
        "Event",
        "ExternalService",
        "FileLimits",
        "FixedField",
        "FixedWidthFormat",
        "Indexed",
        "InvalidInput",
        "JsonLinesFormat",
        "NotFoundError",
        "NotificationEvent",
        "Page",
        "PrivateEvent",
        "PublicEvent",
        "RejectLimit",
        "Replica",
        "Reply",
        "RetryPolicy",
        "SagaState",
        "SagaStatus",
        "StateTransferEvent",
        "Step",
    ]
    assert all(hasattr(interlink, name) for name in interlink.__all__)


def test_testing_all_is_pinned() -> None:
    """`interlink.testing` gives the test kit: Landscape, its clock, the External Service fake, wait_until."""
    assert sorted(interlink.testing.__all__) == [
        "FakeCall",
        "FakeExternalServices",
        "Landscape",
        "ManualClock",
        "wait_until",
    ]
    assert all(hasattr(interlink.testing, name) for name in interlink.testing.__all__)


def test_exception_tree_matches_its_docstring() -> None:
    """Every exception sits where the tree drawn in exceptions.py says, so callers can catch by branch."""
    parents = {
        "ConfigurationError": "InterlinkError",
        "MissingDriverError": "ConfigurationError",
        "DomainError": "InterlinkError",
        "NotFoundError": "DomainError",
        "ConcurrencyError": "DomainError",
        "RuleViolation": "DomainError",
        "BusinessRuleError": "DomainError",
        "InvalidInput": "DomainError",
        "MessageTooLarge": "InvalidInput",
        "PreconditionFailed": "DomainError",
        "AccessDenied": "DomainError",
        "MessageError": "InterlinkError",
        "MalformedMessage": "MessageError",
        "UnknownMessageType": "MessageError",
        "InvalidPayload": "MessageError",
        "AdapterError": "InterlinkError",
        "BrokerError": "AdapterError",
        "BrokerUnavailable": "BrokerError",
        "MessageRefused": "BrokerError",
        "StoreError": "AdapterError",
        "ExternalServiceError": "AdapterError",
        "StoreUnavailable": "StoreError",
        "DuplicateMessage": "StoreError",
        "RecordSchemaError": "StoreError",
    }
    assert sorted([*parents, "InterlinkError"]) == sorted(exceptions.__all__)
    for child, parent in parents.items():
        assert getattr(exceptions, child).__bases__ == (getattr(exceptions, parent),)
        assert child in (exceptions.__doc__ or "")


@pytest.mark.parametrize(
    ("driver_error", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), StoreUnavailable),
        (sqlite3.OperationalError("database table is busy"), StoreUnavailable),
        (sqlite3.OperationalError("unable to open database file"), StoreUnavailable),
        (sqlite3.OperationalError("disk I/O error"), StoreUnavailable),
        (sqlite3.OperationalError("no such table: interlink_outbox"), StoreError),
        (sqlite3.IntegrityError("CHECK constraint failed"), StoreError),
        (sqlite3.DatabaseError("file is not a database"), StoreError),
    ],
)
def test_sqlite_store_translates_driver_errors(driver_error: Exception, expected: type[Exception]) -> None:
    """SQLite's errors become Interlink's in one place: transient ones StoreUnavailable, others StoreError."""
    store = SqliteStore("sqlite:///ignored.db", domain="d")
    translated = store._translate(driver_error)
    assert type(translated) is expected
    assert str(driver_error) in str(translated)
    assert "ignored.db" in str(translated)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@h:5432/db?schema=x", "postgresql://u:***@h:5432/db?schema=x"),
        ("amqp://guest:hunter2@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
        ("redis://:hunter2@h/0", "redis://:***@h/0"),
        ("nats://h:4222", "nats://h:4222"),
        ("sqlite:///data/{domain}.db", "sqlite:///data/{domain}.db"),
    ],
)
def test_redact_hides_passwords_only(url: str, shown: str) -> None:
    """redact() replaces the password and nothing else."""
    from interlink.urls import redact

    assert redact(url) == shown
