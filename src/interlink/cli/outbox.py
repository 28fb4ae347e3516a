"""``interlink outbox status``: how far the relay is behind."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from interlink.cli.loading import console, load_domains, run_async
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument
from interlink.cli.store_note import say_store
from interlink.runtime.backends import open_store

app = typer.Typer(help="Inspect the transactional outbox of domains.")


@app.command()
def status(target: TargetArgument, store: StoreOption = DEFAULTS["store"]) -> None:
    """Pending outbox rows and the age of the oldest, per domain."""
    domains = load_domains(target)

    async def main() -> None:
        for domain in domains:
            async with open_store(store, domain.name) as s:
                say_store(s)
                st = await s.outbox_status()
            age = (datetime.now(UTC) - st.oldest_pending).total_seconds() if st.oldest_pending else 0.0
            console.print(f"{domain.name}: {st.pending} pending, oldest {age:.1f}s old")

    run_async(main)
