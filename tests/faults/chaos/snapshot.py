"""What the six domains' stores hold, read through the Store port only (so it means the same on every pair)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.bank.customer import INBOUND_DIRECTORY as CUSTOMER_FILES

from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.patterns.command_events.sagas import SAGA_KIND
from interlink.patterns.inbound_file.reports import REPORT
from interlink.ports.store import DeadLetter, InboundFile, Store
from tests.faults.support import list_all

__all__ = ["Doc", "Snapshot", "take"]

REPLICA = "~replica:loan-requests"


@dataclass(frozen=True)
class Doc:
    """A stored aggregate or record: its version and its fields."""

    version: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Everything the checker reads, by domain, at one moment."""

    customers: dict[str, Doc]
    credit_files: set[str]
    borrowers: dict[str, Doc]
    loans: dict[str, Doc]
    sagas: dict[str, Doc]
    notices: dict[str, Doc]
    offers: dict[str, Doc]
    replicas: dict[str, Doc]
    sms: dict[str, Doc]
    profiles: dict[str, Doc]
    #: Outstanding command requests (``~request``), by issuing domain.
    requests: dict[str, dict[str, Doc]]
    dead_letters: dict[str, list[DeadLetter]]
    outbox: dict[str, int]
    #: The inbound file record of each branch file the load dropped (None: no report of it yet).
    files: dict[str, InboundFile | None]

    def sagas_of(self, loan_request_id: str) -> list[Doc]:
        """The loan origination sagas started for one loan request."""
        return [s for s in self.sagas.values() if s.fields["data"].get("loan_request_id") == loan_request_id]

    def sms_under_way(self) -> set[str]:
        """Ids of the SMS loan-request still awaits an answer for."""
        return {r.fields["command"].get("sms_id", "") for r in self.requests.get("loan-request", {}).values()}


async def _docs(store: Store, kind: str) -> dict[str, Doc]:
    return {id: Doc(s.version, json.loads(s.data)) for id, s in (await list_all(store, kind)).items()}


async def _files(store: Store, workdir: Path, names: Iterable[str]) -> dict[str, InboundFile | None]:
    folder, found = workdir / CUSTOMER_FILES, dict[str, InboundFile | None]()
    for name in names:
        reports = [*folder.glob(f"archive/*--{name}{REPORT}"), *folder.glob(f"failed/*--{name}{REPORT}")]
        file_id = json.loads(reports[0].read_text(encoding="utf-8")).get("file_id") if reports else None
        found[name] = await store.inbound_file(file_id) if file_id else None
    return found


async def take(stores: Mapping[str, Store], workdir: Path, file_names: Iterable[str]) -> Snapshot:
    """Read the stores now."""
    customer, loans, offers = stores["customer"], stores["loan-request"], stores["credit-offer"]
    sms, risk = stores["customer-communication"], stores["risk-assessment"]
    return Snapshot(
        customers=await _docs(customer, "Customer"),
        credit_files=set(await list_all(loans, "CreditFile")),
        borrowers=await _docs(loans, "Borrower"),
        loans=await _docs(loans, "LoanRequest"),
        sagas=await _docs(loans, SAGA_KIND),
        notices=await _docs(loans, "SmsNotice"),
        offers=await _docs(offers, "CreditOffer"),
        replicas=await _docs(offers, REPLICA),
        sms=await _docs(sms, "Sms"),
        profiles=await _docs(risk, "CustomerProfile"),
        requests={name: await _docs(store, REQUEST_KIND) for name, store in stores.items()},
        dead_letters={name: await store.dead_letters(limit=100_000) for name, store in stores.items()},
        outbox={name: (await store.outbox_status()).pending for name, store in stores.items()},
        files=await _files(customer, workdir, file_names),
    )
