"""The RabbitMQ broker (``amqp://`` and ``amqps://``); needs the ``rabbitmq`` extra (aio-pika)."""

from interlink.adapters.brokers.rabbitmq.broker import RabbitMqBroker

__all__ = ["RabbitMqBroker"]
