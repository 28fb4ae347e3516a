"""``interlink run --workers N``: the landscape's domains spread over N worker processes.

The parent checks the command line as a plain ``run`` does, then starts the same command line N times,
each with ``INTERLINK_WORKER`` naming the domains that worker hosts; the supervision is
:mod:`interlink.runtime.workers`. With ``--http HOST:PORT`` (and ``--metrics HOST:PORT``) worker ``i``
serves on ``PORT + i``, and the External Services one domain fetches from another are pointed at the
worker serving them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

import typer

from interlink.adapters.http.config import env_var
from interlink.core.domain import Domain
from interlink.exceptions import ConfigurationError
from interlink.runtime.http import HttpEndpoint, service_urls_across
from interlink.runtime.workers import WorkerSpec

__all__ = ["WORKER_ENV", "Assignment", "WorkersOption", "assignment", "shifted", "worker_specs"]

log = logging.getLogger("interlink.cli")
D = TypeVar("D", bound=Domain)

#: Set by the parent for each worker: ``{"index": i, "domains": [names]}``.
WORKER_ENV = "INTERLINK_WORKER"

WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        help="Host the domains in this many worker processes (round robin; at most one per domain), supervised "
        "by this one: a worker that dies is started again, SIGTERM stops them all. With --http and --metrics, "
        "worker i serves on PORT+i. 1 (default): everything in this process.",
    ),
]


@dataclass(frozen=True)
class Assignment:
    """What one worker hosts: its index among the workers and its domains' names."""

    index: int
    domains: tuple[str, ...]

    def pick(self, domains: Sequence[D]) -> list[D]:
        """The domains of the command line that this worker hosts."""
        return [d for d in domains if d.name in self.domains]


def assignment(environ: Mapping[str, str] | None = None) -> Assignment | None:
    """This process's assignment when a ``run --workers`` parent started it, else None."""
    found = (os.environ if environ is None else environ).get(WORKER_ENV)
    if not found:
        return None
    parsed = json.loads(found)
    return Assignment(int(parsed["index"]), tuple(parsed["domains"]))


def shifted(endpoint: str | None, index: int) -> str | None:
    """``HOST:PORT`` with ``PORT + index`` (``None`` and ``off`` unchanged)."""
    if endpoint is None or endpoint == "off" or index == 0:
        return endpoint
    parsed = HttpEndpoint.parse(endpoint)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{host}:{parsed.port + index}"


def worker_specs(
    domains: Sequence[Domain], workers: int, http: str | None, environ: Mapping[str, str] | None = None
) -> list[WorkerSpec]:
    """One spec per worker: this command line again, with the worker's domains (and service URLs) in its
    environment."""
    if workers > len(domains):
        raise ConfigurationError(
            f"--workers {workers}: there are only {len(domains)} domains ({', '.join(d.name for d in domains)}); "
            "a worker hosts at least one"
        )
    groups: list[list[Domain]] = [[] for _ in range(workers)]
    for i, domain in enumerate(domains):
        groups[i % workers].append(domain)
    env: dict[str, str] = {}
    if http is not None:
        served = [(group, HttpEndpoint.parse(shifted(http, i) or http)) for i, group in enumerate(groups)]
        env = {env_var(name, "URL"): url for name, url in service_urls_across(served, environ).items()}
    argv = [sys.executable, "-m", "interlink.cli.main", *sys.argv[1:]]
    return [
        WorkerSpec(
            name="+".join(d.name for d in group),
            argv=argv,
            env={**env, WORKER_ENV: json.dumps({"index": i, "domains": [d.name for d in group]})},
        )
        for i, group in enumerate(groups)
    ]
