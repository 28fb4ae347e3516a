"""Pattern 6: command events with confirmations, and orchestrated sagas.

- :mod:`.handling`: the target domain runs a command event and replies (``@domain.handles``);
- :mod:`.replies`: the issuing domain settles its outstanding requests with the replies
  (``@domain.on_reply``) and advances its sagas;
- :mod:`.deadlines`: outstanding requests past their deadline get a timed-out reply, once;
- :mod:`.views`: read the sagas of a store (CLI, API).

The declarations are :mod:`.declarations` and :mod:`.sagas`; the records kept in the store (``~request``,
``~reply``, ``~saga``: model, schema version, retention), :mod:`.records`; the verbs on a domain and a
context, :mod:`.verbs`; sending a command event or starting a saga in a unit of work, :mod:`.sending`.
"""

from interlink.patterns.command_events.deadlines import DeadlineWatch
from interlink.patterns.command_events.handling import CommandDispatcher
from interlink.patterns.command_events.replies import ReplyDispatcher, settle
from interlink.patterns.command_events.views import list_sagas, load_saga

__all__ = ["CommandDispatcher", "DeadlineWatch", "ReplyDispatcher", "list_sagas", "load_saga", "settle"]
