"""The Redis Streams broker adapter (``redis://`` and ``rediss://``); needs the ``redis`` extra."""

from interlink.adapters.brokers.redis.broker import RedisBroker

__all__ = ["RedisBroker"]
