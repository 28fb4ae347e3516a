"""Event schema evolution: upcasters that turn an old version of an event's data into the current one.

An event class declares its schema version (``__message_version__ = 3``); its CloudEvents type carries it
(``"loan-request.LoanRequestChanged.v3"``, version 1 keeping the plain type). The domain that reads the
event declares one upcaster per step it can still read::

    @credit.upcaster(LoanRequestChanged, from_version=1)
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "currency": "EUR"}

A v1 message then runs ``v1_to_v2``, ``v2_to_v3`` in turn before the handler sees it. The chain must be
complete: a domain accepts exactly the versions from which a chain of upcasters reaches the current one.
Fields the current version does not know are dropped (a tolerant reader), so a producer may add optional
fields without breaking its consumers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interlink.core.messages import Event, versioned_type
from interlink.exceptions import ConfigurationError, InvalidPayload

__all__ = ["Upcaster", "Upcasters", "accepted_versions"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """The upcasters one domain declared, by event class and the version each one starts from."""

    def __init__(self, domain: str) -> None:
        self._domain = domain
        self._steps: dict[type[Event], dict[int, Upcaster]] = {}

    def add(self, event: type[Event], from_version: int, func: Upcaster) -> None:
        """Register ``func`` as the step from ``from_version`` to ``from_version + 1`` of ``event``."""
        current = event.message_version()
        if not 1 <= from_version < current:
            raise ConfigurationError(
                f"upcaster {getattr(func, '__qualname__', func)!r} of domain {self._domain!r}: {event.__name__} is "
                f"at version {current}, so from_version must be between 1 and {current - 1}, got {from_version}"
            )
        steps = self._steps.setdefault(event, {})
        if from_version in steps:
            raise ConfigurationError(
                f"domain {self._domain!r} already upcasts {event.__name__} from version {from_version} "
                f"({getattr(steps[from_version], '__qualname__', steps[from_version])})"
            )
        steps[from_version] = func

    def steps(self, event: type[Event]) -> Mapping[int, Upcaster]:
        """The declared steps of ``event``, by the version each one starts from."""
        return self._steps.get(event, {})

    def types(self, event: type[Event]) -> list[str]:
        """Every CloudEvents type of ``event`` this domain can read: the current one and those upcast to it."""
        base = event.base_type()
        return [versioned_type(base, v) for v in accepted_versions(event, self.steps(event))]

    def upcast(self, event: type[Event], version: int, data: dict[str, Any], where: str) -> dict[str, Any]:
        """``data`` of ``event`` at ``version`` turned into the current version, one step at a time."""
        current = event.message_version()
        if version > current:
            raise InvalidPayload(
                f"{where}: {event.__name__} version {version} is newer than the version {current} "
                f"domain {self._domain!r} knows; deploy the new event class first"
            )
        steps = self.steps(event)
        for step in range(version, current):
            if step not in steps:
                raise InvalidPayload(
                    f"{where}: domain {self._domain!r} has no upcaster for {event.__name__} from version {step}"
                )
            try:
                data = steps[step](dict(data))
            except Exception as exc:
                raise InvalidPayload(
                    f"{where}: upcasting {event.__name__} from version {step} failed: {exc!r}"
                ) from exc
            if not isinstance(data, dict):
                raise InvalidPayload(f"{where}: the upcaster of {event.__name__} from version {step} returned "
                                     f"{type(data).__name__}, not a dict")  # fmt: skip
        return data


def accepted_versions(event: type[Event], steps: Mapping[int, Upcaster]) -> list[int]:
    """The current version and every older one from which an unbroken chain of steps reaches it."""
    versions = [event.message_version()]
    while versions[-1] - 1 in steps:
        versions.append(versions[-1] - 1)
    return sorted(versions)
