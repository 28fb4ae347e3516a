"""A second subscription to an event already subscribed to is refused naming the one already there."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, NotificationEvent
from interlink.exceptions import ConfigurationError

source = Domain("dup-source")


@source.event
class PartyChanged(NotificationEvent):
    """A party changed."""


@source.event
class RateChanged(NotificationEvent):
    """A rate changed."""


class Data(BaseModel):
    """What a fetch answers."""

    id: str


class PartyCopy(Aggregate):
    """The kept copy."""


def consumer() -> Domain:
    """A consumer subscribed to PartyChanged as ``parties``, with its command and service."""
    domain = Domain("dup-consumer")

    @domain.command
    async def keep(ctx: Context, data: Data) -> PartyCopy:
        """Keep the party."""
        return PartyCopy(id=data.id)

    service = domain.external_service(
        "party", resource="/parties/{id}", base_url="http://x", translate=Data.model_validate
    )
    domain.on_notification(PartyChanged, fetch=service, command=keep, name="parties")
    return domain


def test_a_second_subscription_to_one_event_names_the_first() -> None:
    """The error names the subscription that already takes the event, not the refused one's name."""
    domain = consumer()
    service, keep = domain.external_services["party"], domain.commands["keep"].func
    with pytest.raises(ConfigurationError) as refused:
        domain.deferred(PartyChanged, fetch=service, command=keep, name="parties-later")
    assert str(refused.value) == "domain 'dup-consumer' already subscribes to PartyChanged (subscription 'parties')"


def test_a_name_taken_by_a_subscription_to_another_event_says_so() -> None:
    """Reusing a subscription's name for another event names the event that name already stands for."""
    domain = consumer()
    service, keep = domain.external_services["party"], domain.commands["keep"].func
    with pytest.raises(ConfigurationError, match=r"already has a subscription named 'parties' \(to PartyChanged\)"):
        domain.on_notification(RateChanged, fetch=service, command=keep, name="parties")


def test_a_side_effect_subscription_is_declared_and_kept() -> None:
    """``side_effects=True`` is kept on the subscription (interlink advise then never advises deferring it)."""
    domain = consumer()
    spec = domain.on_notification(
        RateChanged, fetch=domain.external_services["party"], command=domain.commands["keep"].func, side_effects=True
    )
    assert domain.notifications[spec.name].side_effects is True
    assert domain.notifications["parties"].side_effects is False
