"""The embedded broker (``sqlite:///path.db``): one SQLite file, no server; needs nothing beyond Python."""

from interlink.adapters.brokers.sqlite.broker import SqliteBroker
from interlink.adapters.brokers.sqlite.config import SQLITE_MAX_LENGTH
from interlink.adapters.brokers.sqlite.sql import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SQLITE_MAX_LENGTH", "SqliteBroker"]
