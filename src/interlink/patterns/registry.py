"""The registration list: every pattern the runtime, the specifications and the landscape iterate over, and
the :class:`Domain` and :class:`Context` a team uses, with the verbs of every pattern.

Adding a pattern is adding its package and one line here (two when it has verbs of its own on the domain or
the context). The order is the seed's; it is also the order in which the patterns' collectors run, so the
documents list operations and links in a stable order.
"""

from __future__ import annotations

from interlink.patterns.api_exposure.pattern import PATTERN as API_EXPOSURE
from interlink.patterns.command_events.pattern import PATTERN as COMMAND_EVENTS
from interlink.patterns.command_events.verbs import CommandEventContext, CommandEventVerbs
from interlink.patterns.deferred_update.pattern import PATTERN as DEFERRED_UPDATE
from interlink.patterns.deferred_update.verbs import FreshContext
from interlink.patterns.inbound_file.pattern import PATTERN as INBOUND_FILE
from interlink.patterns.inbound_file.verbs import InboundFileVerbs
from interlink.patterns.notification.pattern import PATTERN as STATE_CHANGE_NOTIFICATION
from interlink.patterns.notification.verbs import NotificationVerbs
from interlink.patterns.pattern import Pattern
from interlink.patterns.state_transfer.pattern import PATTERN as STATE_TRANSFER
from interlink.patterns.state_transfer.verbs import ReplicaContext, StateTransferVerbs

__all__ = ["PATTERNS", "Context", "Domain"]

PATTERNS: list[Pattern] = [
    API_EXPOSURE,
    INBOUND_FILE,
    STATE_CHANGE_NOTIFICATION,
    DEFERRED_UPDATE,
    STATE_TRANSFER,
    COMMAND_EVENTS,
]


class Context(FreshContext, ReplicaContext, CommandEventContext):
    """Access to the domain's data and messaging for one run of a command, query, service or handler.

    What every pattern shares (``find``, ``get``, ``list``, ``save``, ``delete``, ``emit``, ``fetch``,
    ``execute``, ``call``; see :class:`interlink.core.context.Context`), and the patterns' verbs:
    ``fresh`` (deferred update), ``replica`` / ``replicas`` (state transfer), ``send`` / ``start_saga``
    (command events).
    """


class Domain(InboundFileVerbs, NotificationVerbs, StateTransferVerbs, CommandEventVerbs):
    """A service domain: one business responsibility, its own data, integrated only through APIs and events.

    Declarations are decorators that return the function or class unchanged, so domain code stays plain
    Python and can be unit-tested by calling it with a context::

        loans = Domain("loan-request")

        @loans.command
        async def submit(ctx: Context, data: SubmitLoan) -> LoanRequest: ...

    What every pattern shares is :class:`interlink.core.domain.Domain`'s; each pattern adds its verbs
    (``inbound_file``, ``on_notification``, ``deferred``, ``replica``, ``handles``, ``on_reply``, ``saga``).
    """

    context_type = Context
