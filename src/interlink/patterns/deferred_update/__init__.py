"""Pattern 4, State Change Notification with deferred update: a notification only flags the resource as
pending, and the next read that needs it (``ctx.fresh``) retrieves the changed data and updates the copy.

The seed draws it as pattern 3 with the update moved from the event to the read, and so it is built: the
declaration (``domain.deferred(...)``) and the capture of the notification (the pending flag) are pattern
3's (:mod:`interlink.patterns.notification`); this package is the read half, :class:`DeferredReads`
(:mod:`.reads`). It is the one pattern that builds on another, and the import contracts say so.
"""

from interlink.patterns.deferred_update.pattern import PATTERN, FreshReads
from interlink.patterns.deferred_update.reads import DeferredReads

__all__ = ["PATTERN", "DeferredReads", "FreshReads"]
