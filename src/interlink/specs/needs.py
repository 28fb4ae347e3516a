"""What consumers declared they need of their producers, checked against the producers' current documents.

A replica reads some fields of a producer's fat event (``x-interlink-fields-read`` on its operation); a
notification subscription (``state-change-notification`` or ``deferred-update``) waits for a producer's
event, then fetches the resource from the producer's API (``x-interlink-fetch``). All of it is in the
consumer's AsyncAPI document, the producer named by ``x-interlink-peer``. In a bundle the producer's own
documents say what it offers now: a field its event no longer carries, an event it no longer emits, or a
resource its API no longer serves breaks the consumer even when the consumer did not change. The check
needs both sides in one bundle (a producer outside it cannot be checked here).
"""

from __future__ import annotations

import re
from typing import Any

from interlink.specs.cloudevents import data_schema
from interlink.specs.compat import Change, document_resolver
from interlink.specs.model import DEFERRED_UPDATE, FETCH, FIELDS_READ, STATE_CHANGE_NOTIFICATION

__all__ = ["check_needs"]

Document = dict[str, Any]
_NOTIFIED = (STATE_CHANGE_NOTIFICATION, DEFERRED_UPDATE)
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _served(openapi: Document) -> set[str]:
    """The paths an OpenAPI document serves with GET, their parameters unnamed (``/customers/{}``)."""
    return {_PLACEHOLDER.sub("{}", path) for path, item in openapi.get("paths", {}).items() if "get" in item}


def _fetch(consumer: str, producer: str, op_id: str, where: str, fetch: Any, openapi: Document) -> list[Change]:
    resource = str(fetch.get("resource", "")) if isinstance(fetch, dict) else ""
    path = resource.split("?")[0]
    if not path or _PLACEHOLDER.sub("{}", path) in _served(openapi):
        return []
    what = (
        f"consumer {consumer} fetches GET {path} from producer {producer} ({op_id}), which the API of {producer} "
        "no longer serves"
    )
    return [Change(where, what, True)]


def _sent(document: Document) -> dict[str, dict[str, Any]]:
    """The messages a domain sends, by CloudEvents type, each with the schema of its data resolved."""
    resolve = document_resolver(document)
    found: dict[str, dict[str, Any]] = {}
    for op in document.get("operations", {}).values():
        if op.get("action") != "send":
            continue
        for ref in op.get("messages", []):
            message = resolve(ref)
            if message.get("name"):
                found[str(message["name"])] = resolve(data_schema(resolve(message.get("payload", {}))))
    return found


def check_needs(
    documents: dict[str, Document], location: dict[str, str], openapi: dict[str, Document] | None = None
) -> list[Change]:
    """Every need of a consumer the producer's documents no longer meet; ``documents``: AsyncAPI documents
    by domain name, ``location``: where each one is (for the change's ``where``), ``openapi``: the OpenAPI
    documents by domain name, for the resources notifications fetch."""
    apis = openapi or {}
    changes: list[Change] = []
    for consumer, document in documents.items():
        resolve = document_resolver(document)
        for op_id, op in document.get("operations", {}).items():
            producer = op.get("x-interlink-peer")
            reads = op.get(FIELDS_READ)
            notified = op.get("x-interlink-pattern") in _NOTIFIED
            if op.get("action") != "receive" or producer not in documents or (reads is None and not notified):
                continue
            sent = _sent(documents[str(producer)])
            where = f"{location[consumer]} operation {op_id}"
            if notified and FETCH in op and str(producer) in apis:
                changes += _fetch(consumer, str(producer), op_id, where, op[FETCH], apis[str(producer)])
            for ref in op.get("messages", []):
                name = str(resolve(ref).get("name"))
                if name not in sent:
                    changes.append(
                        Change(
                            where,
                            f"consumer {consumer} subscribes to {name} of producer {producer}, "
                            f"which {producer} no longer emits",
                            True,
                        )
                    )
                    continue
                carried = sent[name].get("properties", {})
                changes += [
                    Change(
                        where,
                        f"consumer {consumer} reads field {field!r} of {name} from producer {producer}, "
                        f"which its event no longer carries",
                        True,
                    )
                    for field in reads or []
                    if field not in carried
                ]
    return changes
