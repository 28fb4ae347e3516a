"""The registration list: every pattern the runtime, the specifications and the landscape iterate over.

Adding a pattern is adding its package and one line here. The order is the seed's; it is also the order
in which the patterns' collectors run, so the documents list operations and links in a stable order.
"""

from __future__ import annotations

from interlink.patterns.api_exposure.pattern import PATTERN as API_EXPOSURE
from interlink.patterns.command_events.pattern import PATTERN as COMMAND_EVENTS
from interlink.patterns.deferred_update.pattern import PATTERN as DEFERRED_UPDATE
from interlink.patterns.inbound_file.pattern import PATTERN as INBOUND_FILE
from interlink.patterns.notification.pattern import PATTERN as STATE_CHANGE_NOTIFICATION
from interlink.patterns.pattern import Pattern
from interlink.patterns.state_transfer.pattern import PATTERN as STATE_TRANSFER

__all__ = ["PATTERNS"]

PATTERNS: list[Pattern] = [
    API_EXPOSURE,
    INBOUND_FILE,
    STATE_CHANGE_NOTIFICATION,
    DEFERRED_UPDATE,
    STATE_TRANSFER,
    COMMAND_EVENTS,
]
