"""Ports: the small abstract base classes that adapters implement and the delivery layer uses."""

from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription
from interlink.ports.store import ChangeSet, DeadLetter, Store

__all__ = ["Broker", "ChangeSet", "DeadLetter", "Delivery", "OutgoingMessage", "Store", "Subscription"]
