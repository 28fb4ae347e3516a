"""The resilience options of ``interlink run``: each one and its environment variable reach the process, and
what makes no sense is refused before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interlink.cli.resilience import resilience_settings, with_broker_option
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import ConfigurationError
from tests.support.run_options import assert_documented, run

OPTIONS = {
    "--retry-attempts": "INTERLINK_RETRY_ATTEMPTS",
    "--retry-budget": "INTERLINK_RETRY_BUDGET",
    "--retry-base-delay": "INTERLINK_RETRY_BASE_DELAY",
    "--retry-max-delay": "INTERLINK_RETRY_MAX_DELAY",
    "--redrive-interval": "INTERLINK_REDRIVE_INTERVAL",
    "--consumer-batch": "INTERLINK_CONSUMER_BATCH",
    "--visibility-timeout": "INTERLINK_VISIBILITY_TIMEOUT",
    "--circuit-threshold": "INTERLINK_CIRCUIT_THRESHOLD",
    "--circuit-cooldown": "INTERLINK_CIRCUIT_COOLDOWN",
}


def test_help_names_every_option_and_its_environment_variable() -> None:
    """`interlink run --help` lists the nine options, each with its INTERLINK_ variable, as docs/resilience.md."""
    assert_documented(OPTIONS, "resilience.md")


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["--retry-attempts", "0"], {}, "--retry-attempts"),
        ([], {"INTERLINK_RETRY_ATTEMPTS": "0"}, "--retry-attempts"),
        ([], {"INTERLINK_RETRY_BUDGET": "-5"}, "--retry-budget"),
        ([], {"INTERLINK_CIRCUIT_COOLDOWN": "-1"}, "--circuit-cooldown"),
        ([], {"INTERLINK_VISIBILITY_TIMEOUT": "0"}, "--visibility-timeout"),
        ([], {"INTERLINK_RETRY_BASE_DELAY": "5", "INTERLINK_RETRY_MAX_DELAY": "1"}, "retry options"),
    ],
    ids=lambda x: "-".join(x) if isinstance(x, list) else "-".join(x) if isinstance(x, dict) else x,
)
def test_a_value_that_makes_no_sense_is_refused_before_the_domains_start(
    args: list[str], env: dict[str, str], complaint: str, tmp_path: Path
) -> None:
    """A bad value, given as an option or in the environment, stops `interlink run` with a message naming it."""
    result = run("examples.bank.customer", "--store", f"sqlite:///{tmp_path}/{{domain}}.db", *args, **env)
    assert result.returncode != 0
    said = re.sub(r"[\s│╭╮╰╯─]+", " ", result.stdout + result.stderr)
    assert complaint in said, said
    assert "running customer" not in said


def test_options_become_settings() -> None:
    """The option values become the runtime's retry policy, redrive interval, batch and circuit settings."""
    settings = resilience_settings(
        retry_attempts=7, retry_budget=900, retry_base_delay=0.25, retry_max_delay=10, redrive_interval=0,
        consumer_batch=50, circuit_threshold=3, circuit_cooldown=12,
    )  # fmt: skip
    assert settings == {
        "retry": RetryPolicy(max_attempts=7, base_delay=0.25, max_delay=10, budget=900),
        "redrive_interval": None,
        "consumer_batch": 50,
        "circuit_threshold": 3,
        "circuit_cooldown": 12,
    }
    with pytest.raises(ConfigurationError, match="retry options"):
        resilience_settings(
            retry_attempts=1, retry_budget=1, retry_base_delay=2, retry_max_delay=1, redrive_interval=1,
            consumer_batch=1, circuit_threshold=1, circuit_cooldown=1,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/broker.db", "sqlite:///data/broker.db?visibility_timeout=7.5"),
        ("redis://h:6379/0?namespace=bank", "redis://h:6379/0?namespace=bank&visibility_timeout=7.5"),
        ("nats://h:4222?visibility_timeout=30&namespace=x", "nats://h:4222?namespace=x&visibility_timeout=7.5"),
        ("memory://", "memory://?visibility_timeout=7.5"),
    ],
)
def test_visibility_timeout_goes_onto_the_broker_url(url: str, expected: str) -> None:
    """--visibility-timeout sets (or replaces) the broker URL's visibility_timeout, leaving the rest alone."""
    assert with_broker_option(url, "visibility_timeout", 7.5) == expected
    assert with_broker_option(url, "visibility_timeout", None) == url
