"""What consumers declared they need of their producers, checked against the producers' current documents.

A replica reads some fields of a producer's fat event (``x-interlink-fields-read`` on its operation); a
notification subscription (``state-change-notification`` or ``deferred-update``) waits for a producer's
event. Both are in the consumer's AsyncAPI document, the producer named by ``x-interlink-peer``. In a bundle
the producer's own document says what it sends now: a field it no longer carries, or an event it no longer
emits, breaks the consumer even when the consumer did not change. The check needs both documents in one
bundle (a producer outside it cannot be checked here).
"""

from __future__ import annotations

from typing import Any

from interlink.specs.collect import FIELDS_READ
from interlink.specs.compat import Change, document_resolver
from interlink.specs.model import DEFERRED_UPDATE, STATE_CHANGE_NOTIFICATION

__all__ = ["check_needs"]

Document = dict[str, Any]
_NOTIFIED = (STATE_CHANGE_NOTIFICATION, DEFERRED_UPDATE)


def _sent(document: Document) -> dict[str, dict[str, Any]]:
    """The messages a domain sends, by CloudEvents type, each with its payload schema resolved."""
    resolve = document_resolver(document)
    found: dict[str, dict[str, Any]] = {}
    for op in document.get("operations", {}).values():
        if op.get("action") != "send":
            continue
        for ref in op.get("messages", []):
            message = resolve(ref)
            if message.get("name"):
                found[str(message["name"])] = resolve(message.get("payload", {}))
    return found


def check_needs(documents: dict[str, Document], location: dict[str, str]) -> list[Change]:
    """Every need of a consumer the producer's document no longer meets; ``documents``: AsyncAPI documents
    by domain name, ``location``: where each one is (for the change's ``where``)."""
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
