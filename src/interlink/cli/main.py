"""The ``interlink`` command."""

from __future__ import annotations

import enum
import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from interlink.cli import audit, console, dead_letters, demo, landscape, outbox, spec
from interlink.cli.advise import advise_command
from interlink.cli.auth import authenticator
from interlink.cli.loading import err_console, errors, load_domains, run_async
from interlink.cli.metrics import MetricsOption, start_metrics
from interlink.cli.migrate import migrate
from interlink.cli.options import DEFAULTS, BrokerOption, StoreOption
from interlink.cli.resilience import DEFAULTS as RESILIENCE
from interlink.cli.resilience import (
    CircuitCooldown,
    CircuitThreshold,
    ConsumerBatch,
    RedriveInterval,
    RetryAttempts,
    RetryBaseDelay,
    RetryBudget,
    RetryMaxDelay,
    VisibilityTimeout,
    resilience_settings,
    with_broker_option,
)
from interlink.cli.retention import DEFAULTS as RETENTION
from interlink.cli.retention import (
    PruneBatch,
    PruneInterval,
    RetainCounters,
    RetainIdempotency,
    RetainInbox,
    RetainReplies,
    RetainSagas,
    retention_settings,
)
from interlink.cli.teardown import teardown
from interlink.cli.telemetry import AccessLogOption, LogPayloadsOption, OtelOption, tracing_for
from interlink.cli.workers import WorkersOption, assignment, shifted, worker_specs
from interlink.exceptions import ConfigurationError, InterlinkError
from interlink.observability.logs import configure_logging
from interlink.patterns.api_exposure import ApiSettings
from interlink.patterns.registry import PATTERNS
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import redact
from interlink.runtime.http import HttpEndpoint, local_service_urls, log_services
from interlink.runtime.loop import loop_factory
from interlink.runtime.workers import ParentLink, Supervisor

app = typer.Typer(
    help="Interlink: run and inspect a bank's service domains.", no_args_is_help=True, add_completion=False
)
app.add_typer(audit.app, name="audit")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(outbox.app, name="outbox")
app.add_typer(spec.app, name="spec")
app.command()(landscape.landscape)
app.command("advise")(advise_command)
app.command()(demo.demo)
app.command()(migrate)
app.command()(teardown)
app.command()(console.console)
# Each pattern brings its own commands (interlink sagas, replica, ingest...).
for _pattern in PATTERNS:
    if _pattern.commands is not None:
        _module, _, _register = _pattern.commands.partition(":")
        getattr(importlib.import_module(_module), _register)(app)


class LogFormatChoice(enum.StrEnum):
    """How ``interlink run`` writes its log lines."""

    text = "text"
    json = "json"


@app.command()
def run(
    targets: Annotated[list[str], typer.Argument(help="MODULE:DOMAIN (or MODULE for all its domains), one or more.")],
    store: StoreOption = DEFAULTS["store"],
    broker: BrokerOption = DEFAULTS["broker"],
    http: Annotated[str | None, typer.Option(help="Serve the domains' APIs on HOST:PORT.")] = None,
    jwt_secret: Annotated[str | None, typer.Option(envvar="INTERLINK_JWT_SECRET", help="HS256 secret.")] = None,
    jwks_file: Annotated[Path | None, typer.Option(help="JSON Web Key Set with RS256/ES256 public keys.")] = None,
    jwt_audience: Annotated[str | None, typer.Option(help="Audience the tokens must name.")] = None,
    jwt_issuer: Annotated[str | None, typer.Option(help="Issuer the tokens must name.")] = None,
    jwt_algorithm: Annotated[list[str] | None, typer.Option(help="Accepted algorithm(s); never 'none'.")] = None,
    api_keys: Annotated[Path | None, typer.Option(help='JSON {"<key>": {"subject": ..., "scopes": [...]}}.')] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without authentication.")] = False,
    max_body: Annotated[int, typer.Option(help="Largest request body, in bytes.")] = 1_000_000,
    request_timeout: Annotated[float, typer.Option(help="Seconds a command or query may take.")] = 30.0,
    idempotency_lease: Annotated[
        float,
        typer.Option(
            envvar="INTERLINK_IDEMPOTENCY_LEASE",
            min=0.5,
            help="Seconds an Idempotency-Key stays held after the process running its command died.",
        ),
    ] = 5.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    log_format: Annotated[
        LogFormatChoice,
        typer.Option(envvar="INTERLINK_LOG_FORMAT", help="text (rich on a terminal, plain lines elsewhere) or json."),
    ] = LogFormatChoice.text,
    startup_timeout: Annotated[
        float,
        typer.Option(
            envvar="INTERLINK_STARTUP_TIMEOUT",
            help="Seconds to wait (and retry, logging each wait) for a store, broker or inbound folder that is "
            "not ready at start; 0 fails at the first error.",
        ),
    ] = 120.0,
    retry_attempts: RetryAttempts = RESILIENCE["retry_attempts"],
    retry_budget: RetryBudget = RESILIENCE["retry_budget"],
    retry_base_delay: RetryBaseDelay = RESILIENCE["retry_base_delay"],
    retry_max_delay: RetryMaxDelay = RESILIENCE["retry_max_delay"],
    redrive_interval: RedriveInterval = RESILIENCE["redrive_interval"],
    consumer_batch: ConsumerBatch = RESILIENCE["consumer_batch"],
    visibility_timeout: VisibilityTimeout = RESILIENCE["visibility_timeout"],
    circuit_threshold: CircuitThreshold = RESILIENCE["circuit_threshold"],
    circuit_cooldown: CircuitCooldown = RESILIENCE["circuit_cooldown"],
    retain_inbox: RetainInbox = RETENTION["retain_inbox"],
    retain_idempotency: RetainIdempotency = RETENTION["retain_idempotency"],
    retain_replies: RetainReplies = RETENTION["retain_replies"],
    retain_sagas: RetainSagas = RETENTION["retain_sagas"],
    retain_counters: RetainCounters = RETENTION["retain_counters"],
    prune_interval: PruneInterval = RETENTION["prune_interval"],
    prune_batch: PruneBatch = RETENTION["prune_batch"],
    otel: OtelOption = False,
    metrics: MetricsOption = None,
    access_log: AccessLogOption = False,
    log_payloads: LogPayloadsOption = False,
    with_console: console.ConsoleOption = False,
    workers: WorkersOption = 1,
) -> None:
    """Run domains: relays, consumers and (with --http) their APIs, until SIGINT or SIGTERM.

    The retry, redrive, batch, visibility and circuit options are described in docs/resilience.md, the
    retention and prune options in docs/retention.md, --workers in the README (Running domains).
    """
    configure_logging(log_level, log_format.value, sys.stdout, payloads=log_payloads)
    worker = assignment()
    with errors():
        domains = [d for t in targets for d in load_domains(t)]
        if worker is not None:  # started by a `run --workers` parent, which checked the whole command line
            domains, workers = worker.pick(domains), 1
            http, metrics = shifted(http, worker.index), shifted(metrics, worker.index)
        elif workers > 1 and with_console:
            raise ConfigurationError("--console needs all the domains in one process: not with --workers")
        broker = with_broker_option(broker, "visibility_timeout", visibility_timeout)
        resilience = resilience_settings(
            retry_attempts=retry_attempts, retry_budget=retry_budget, retry_base_delay=retry_base_delay,
            retry_max_delay=retry_max_delay, redrive_interval=redrive_interval, consumer_batch=consumer_batch,
            circuit_threshold=circuit_threshold, circuit_cooldown=circuit_cooldown,
        )  # fmt: skip
        retention = retention_settings(
            retain_inbox=retain_inbox, retain_idempotency=retain_idempotency, retain_replies=retain_replies,
            retain_sagas=retain_sagas, prune_interval=prune_interval, prune_batch=prune_batch,
            retain_counters=retain_counters,
        )  # fmt: skip
        endpoint = HttpEndpoint.parse(http) if http else None
        # A producing domain served here is fetched back here, wherever --http puts it.
        service_urls = local_service_urls(domains, endpoint)
        settings = Settings(
            store_url=store, broker_url=broker, service_urls=service_urls, retention=retention, **resilience
        )
        runtime = Runtime(domains, settings, startup_timeout=startup_timeout)
        auth = authenticator(jwt_secret, jwks_file, jwt_audience, jwt_issuer, jwt_algorithm, api_keys)
        if endpoint is not None and auth is None and not insecure and not endpoint.loopback:
            raise ConfigurationError(
                f"refusing to serve {endpoint.host}:{endpoint.port} without authentication: configure "
                "--jwt-secret/--jwks-file or --api-keys, or pass --insecure"
            )
        extend = console.console_for_run(with_console, endpoint, auth)
        api = ApiSettings(
            auth=auth,
            max_body_bytes=max_body,
            request_timeout=request_timeout,
            idempotency_lease=idempotency_lease,
            access_log=access_log,
        )
    if workers > 1:
        with errors():
            specs = worker_specs(domains, workers, http)
        logging.getLogger("interlink.cli").info(
            "starting %d workers (%s) on store %s and broker %s",
            len(specs), "; ".join(s.name for s in specs), redact(store), redact(broker),
        )  # fmt: skip
        raise typer.Exit(run_async(lambda: Supervisor(specs).run()))
    where = f"; API on http://{http}" if http else ""
    # A log line, not a console print: in JSON every line of the process is an object, and no text is wrapped.
    with errors():
        event_loop = "uvloop" if loop_factory() is not None else "asyncio"
    logging.getLogger("interlink.cli").info(
        "starting %s on store %s and broker %s%s (event loop: %s)",
        ", ".join(d.name for d in domains),
        redact(store),
        redact(broker),
        where,
        event_loop,
    )
    log_services(domains, service_urls, authenticated=auth is not None)
    with errors():
        stop_tracing = tracing_for(domains, otel)
        start_metrics(metrics)
    try:
        link = ParentLink.from_environ()
        running = None if link is None else link.running
        run_async(lambda: runtime.serve(endpoint, api, extend=extend, on_running=running))
    finally:
        stop_tracing()


def main() -> None:
    """Entry point of the ``interlink`` script."""
    try:
        app()
    except InterlinkError as exc:  # raised outside a command's own error handling
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":  # how `run --workers` starts its workers: python -m interlink.cli.main run ...
    main()
