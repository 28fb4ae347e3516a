"""The spec model collected from declarations, and how a new kind of declaration joins it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interlink.cli.loading import load_domains
from interlink.core.domain import Domain
from interlink.specs import asyncapi_document, collect
from interlink.specs.collect import COLLECTORS
from interlink.specs.model import DEFERRED_UPDATE, DomainSpec, Link


def test_the_model_of_a_domain_holds_its_channels_operations_routes_and_links() -> None:
    """lending: notified by registry, emits its events, sends command events and awaits their replies, calls
    registry's API; its dead letters stay in its store, so no channel holds them."""
    spec = collect(load_domains("tests.specs.landscape_app:lending")[0])
    assert set(spec.channels) == {
        "registry.events",
        "lending.events",
        "messaging.commands",
        "ledger.commands",
        "lending.replies",
    }
    assert [(op.id, op.action, op.channel, op.peer) for op in spec.operations] == [
        ("lending_emit_loan_changed", "send", "lending.events", None),
        ("lending_emit_loan_approved", "send", "lending.events", None),
        ("lending_emit_borrower_refreshed", "send", "lending.events", None),
        ("lending_on_customer_changed", "receive", "registry.events", "registry"),
        ("lending_send_send_sms", "send", "messaging.commands", "messaging"),
        ("lending_saga_loan_booking_step1_book_loan", "send", "ledger.commands", "ledger"),
        ("lending_saga_loan_booking_compensate1_cancel_booking", "send", "ledger.commands", "ledger"),
        ("lending_saga_loan_booking_step2_send_sms", "send", "messaging.commands", "messaging"),
    ]
    assert {op.reply.channel for op in spec.operations if op.reply is not None} == {"lending.replies"}
    assert [s.name for s in spec.sagas] == ["loan-booking"]
    assert spec.links == [Link("lending", "registry", "api-exposure", "GET /customers/{id}")]
    assert collect(load_domains("tests.specs.landscape_app:registry")[0]).routes == [
        "PUT /customers/{id}",
        "GET /customers/{id}",
    ]


@pytest.fixture
def extra_collector() -> Iterator[None]:
    """A collector for a made-up declaration kind, removed afterwards."""

    def deferred(domain: Domain, spec: DomainSpec) -> None:
        for name in getattr(domain, "deferred_sources", ()):
            spec.links.append(Link(name, domain.name, DEFERRED_UPDATE, "fetched when used"))

    COLLECTORS.insert(0, deferred)
    yield
    COLLECTORS.remove(deferred)


@pytest.mark.usefixtures("extra_collector")
def test_a_new_kind_of_declaration_is_one_collector() -> None:
    """Appending a function to COLLECTORS is all a new declaration kind needs to appear in the model."""
    domain = Domain("scoring")
    domain.deferred_sources = ["registry"]  # type: ignore[attr-defined]
    assert collect(domain).links == [Link("registry", "scoring", "deferred-update", "fetched when used")]
    assert asyncapi_document(collect(domain))["channels"] == {}


def test_two_messages_with_one_class_name_keep_their_own_schemas() -> None:
    """A subscriber of two domains' `Changed` events gets both payload schemas, under distinct names."""
    from pydantic import create_model

    from interlink import Context, PublicEvent

    one, two, both = Domain("one"), Domain("two"), Domain("both")
    first = one.event(create_model("Changed", __base__=PublicEvent, __module__="shop.one", size=(int, ...)))
    second = two.event(create_model("Changed", __base__=PublicEvent, __module__="shop.two", colour=(str, ...)))
    for event in (first, second):

        async def handle(ctx: Context, event: PublicEvent) -> None:
            """Take it."""

        handle.__annotations__ = {"ctx": Context, "event": event, "return": None}
        handle.__name__ = f"on_{event.owner()}"
        both.on(event)(handle)
    document = asyncapi_document(collect(both))
    payloads = {
        m["name"]: m["payload"]["properties"]["data"]["$ref"] for m in document["components"]["messages"].values()
    }
    assert len(set(payloads.values())) == 2
    schemas = document["components"]["schemas"]
    assert schemas[payloads["one.Changed"].rpartition("/")[2]]["required"] == ["size"]
    assert schemas[payloads["two.Changed"].rpartition("/")[2]]["required"] == ["colour"]
