"""Interlink's test kit: :class:`Landscape` (domains in-process, ``settle()``, a controllable clock),
:class:`FakeExternalServices`, :func:`wait_until`, and the adapters' contract suites (``contracts``)."""

from interlink.testing.clock import ManualClock
from interlink.testing.fakes import FakeCall, FakeExternalServices
from interlink.testing.landscape import Landscape
from interlink.testing.waiting import wait_until

__all__ = ["FakeCall", "FakeExternalServices", "Landscape", "ManualClock", "wait_until"]
