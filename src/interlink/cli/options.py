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
        help="Store URL; {domain} is replaced by each domain's name (sqlite:///..., memory://).",
    ),
]
BrokerOption = Annotated[
    str,
    typer.Option("--broker", envvar="INTERLINK_BROKER", help="Broker URL (sqlite:///..., memory://)."),
]
TargetArgument = Annotated[str, typer.Argument(help="MODULE:DOMAIN, e.g. examples.bank.customer:customer")]

DEFAULTS = {"store": DEFAULT_STORE, "broker": DEFAULT_BROKER}
