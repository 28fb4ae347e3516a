"""Patterns 3 and 4: State Change Notification, eager or with deferred update.

A consumer declares ``domain.on_notification(...)`` or ``domain.deferred(...)`` (:mod:`.verbs`, the
declarations in :mod:`.declarations`). :class:`NotificationDispatcher` captures the notifications of both in
the consumer loop (:mod:`.dispatcher`); the counters and flags are records in the store (:mod:`.records`)
that :mod:`.advice` turns into a choice. The read half of pattern 4 (``ctx.fresh``) is
:mod:`interlink.patterns.deferred_update`.
"""

from interlink.patterns.notification.advice import Advice, advise
from interlink.patterns.notification.dispatcher import NotificationDispatcher
from interlink.patterns.notification.records import Figures, subscription_figures

__all__ = ["Advice", "Figures", "NotificationDispatcher", "advise", "subscription_figures"]
