"""Which store an operational command reads: said before its answer, so nobody reads an old store by mistake."""

from __future__ import annotations

from interlink.cli.loading import err_console
from interlink.ports.store import Store
from interlink.urls import redact

__all__ = ["say_store"]


def say_store(store: Store) -> None:
    """Print ``<domain>: store <url without password> [schema]`` on stderr (stdout stays the answer alone)."""
    url = getattr(store, "redacted_url", None) or redact(store.url)
    schema = getattr(store, "schema", None)
    where = f"{url} (schema {schema})" if isinstance(schema, str) else url
    err_console.print(f"{store.domain}: store {where}", highlight=False)
