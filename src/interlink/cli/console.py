"""``interlink console`` (a process that only watches) and ``interlink run --console``: the operations console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interlink.cli.auth import authenticator
from interlink.cli.loading import errors, load_domains, run_async
from interlink.cli.options import DEFAULTS, StoreOption, TargetArgument
from interlink.console import ConsoleSettings
from interlink.console.hosting import console_extension, refuse_unauthenticated, watch
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.security import Authenticator
from interlink.runtime.host import Extension
from interlink.runtime.http import HttpEndpoint

__all__ = ["ConsoleOption", "console", "console_for_run"]

ConsoleOption = Annotated[
    bool,
    typer.Option(
        "--console",
        help="Serve the operations console at /console beside the APIs (needs --http; same authentication, "
        "with scopes console:read, console:operate, console:payloads; see docs/console.md).",
    ),
]


def console_for_run(enabled: bool, endpoint: HttpEndpoint | None, auth: Authenticator | None) -> Extension | None:
    """The runtime extension serving the console, when ``--console`` is given; refuses an open console on a
    non-loopback address whatever ``--insecure`` says."""
    if not enabled:
        return None
    if endpoint is None:
        raise ConfigurationError("--console needs --http HOST:PORT: the console is served by the runtime's HTTP server")
    refuse_unauthenticated(endpoint, auth is not None)
    return console_extension(ConsoleSettings(auth=auth))


def console(
    target: TargetArgument,
    store: StoreOption = DEFAULTS["store"],
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker", envvar="INTERLINK_BROKER", help="Broker URL: replays are published at once (else by the relay)."
        ),
    ] = None,
    http: Annotated[str, typer.Option(help="Serve the console on HOST:PORT.")] = "127.0.0.1:8089",
    jwt_secret: Annotated[str | None, typer.Option(envvar="INTERLINK_JWT_SECRET", help="HS256 secret.")] = None,
    jwks_file: Annotated[Path | None, typer.Option(help="JSON Web Key Set with RS256/ES256 public keys.")] = None,
    jwt_audience: Annotated[str | None, typer.Option(help="Audience the tokens must name.")] = None,
    jwt_issuer: Annotated[str | None, typer.Option(help="Issuer the tokens must name.")] = None,
    jwt_algorithm: Annotated[list[str] | None, typer.Option(help="Accepted algorithm(s); never 'none'.")] = None,
    api_keys: Annotated[Path | None, typer.Option(help='JSON {"<key>": {"subject": ..., "scopes": [...]}}.')] = None,
) -> None:
    """Serve the operations console of domains from their stores, without running them (see docs/console.md)."""
    with errors():
        domains = load_domains(target)
        endpoint = HttpEndpoint.parse(http)
        auth = authenticator(jwt_secret, jwks_file, jwt_audience, jwt_issuer, jwt_algorithm, api_keys)
        refuse_unauthenticated(endpoint, auth is not None)
    run_async(lambda: watch(domains, store, broker, endpoint, ConsoleSettings(auth=auth)))
