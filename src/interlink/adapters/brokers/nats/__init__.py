"""The NATS JetStream broker: ``nats://`` and ``tls://`` URLs (``pip install 'interlink[nats]'``)."""

from interlink.adapters.brokers.nats.broker import NatsBroker

__all__ = ["NatsBroker"]
