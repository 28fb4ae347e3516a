"""Options shared by the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from interlink.runtime.settings import DEFAULT_BROKER, DEFAULT_STORE

__all__ = ["BrokerOption", "StoreOption", "TargetArgument"]

StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="INTERLINK_STORE",
        help=(
            "Store URL; {domain} is replaced by each domain's name: sqlite:///path/{domain}.db (default), "
            "postgresql://user@host/db?schema=bank_{domain} (one schema per domain), memory://. Options in the "
            "query string: docs/backends.md."
        ),
    ),
]
BrokerOption = Annotated[
    str,
    typer.Option(
        "--broker",
        envvar="INTERLINK_BROKER",
        help=(
            "Broker URL: sqlite:///path/broker.db (embedded, default), amqp:// or amqps:// (RabbitMQ), nats:// or "
            "tls:// (NATS JetStream), redis:// or rediss:// (Redis), memory://; ?namespace=NAME prefixes every "
            "name on the broker. Options in the query string: docs/backends.md."
        ),
    ),
]
TargetArgument = Annotated[str, typer.Argument(help="MODULE:DOMAIN, e.g. examples.bank.customer:customer")]

DEFAULTS = {"store": DEFAULT_STORE, "broker": DEFAULT_BROKER}
