"""The retention options of ``interlink run``: each one and its environment variable reach the settings, and
what makes no sense (a bad duration, an inbox window the broker's redelivery outlasts) stops the process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interlink.cli.retention import DEFAULTS, parse_duration, retention_settings
from interlink.exceptions import ConfigurationError
from interlink.runtime.settings import Retention
from tests.support.run_options import assert_documented, run

OPTIONS = {
    "--retain-inbox": "INTERLINK_RETAIN_INBOX",
    "--retain-idempotency": "INTERLINK_RETAIN_IDEMPOTENCY",
    "--retain-replies": "INTERLINK_RETAIN_REPLIES",
    "--retain-sagas": "INTERLINK_RETAIN_SAGAS",
    "--retain-counters": "INTERLINK_RETAIN_COUNTERS",
    "--prune-interval": "INTERLINK_PRUNE_INTERVAL",
    "--prune-batch": "INTERLINK_PRUNE_BATCH",
}


def test_help_names_every_option_and_its_environment_variable() -> None:
    """`interlink run --help` lists the seven retention options with their variables, as docs/retention.md."""
    assert_documented(OPTIONS, "retention.md")


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["--retain-inbox", "soon"], {}, "--retain-inbox"),
        ([], {"INTERLINK_RETAIN_SAGAS": "0d"}, "--retain-sagas"),
        ([], {"INTERLINK_PRUNE_BATCH": "0"}, "--prune-batch"),
        # The embedded broker re-delivers a re-sent id for its dedupe window (120 s by default).
        (["--retain-inbox", "60s"], {}, "inbox retention (60 s) must be longer than the redelivery window"),
    ],
    ids=["bad-duration", "zero-env", "batch", "inbox-within-broker-window"],
)
def test_a_value_that_makes_no_sense_stops_interlink_run(
    args: list[str], env: dict[str, str], complaint: str, tmp_path: Path
) -> None:
    """A bad value, as an option or in the environment, stops `interlink run` with a message naming it."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db"
    broker = f"sqlite:///{tmp_path}/broker.db"
    result = run(
        "examples.bank.customer_communication",
        "--store",
        store,
        "--broker",
        broker,
        "--startup-timeout",
        "0",
        *args,
        **env,
    )
    assert result.returncode != 0
    said = re.sub(r"[\s│╭╮╰╯─]+", " ", result.stdout + result.stderr)
    assert complaint in said, said


def test_options_become_settings() -> None:
    """Durations in s, m, h, d or 'forever' and the prune options become the runtime's Retention."""
    settings = retention_settings(
        retain_inbox="14d", retain_idempotency="36h", retain_replies="90m", retain_sagas="forever",
        retain_counters="2d", prune_interval=0, prune_batch=250,
    )  # fmt: skip
    assert settings == Retention(
        inbox=14 * 86400, idempotency=36 * 3600, replies=90 * 60, sagas=None, counters=2 * 86400, interval=None,
        batch=250,
    )  # fmt: skip
    defaults = retention_settings(**DEFAULTS)
    assert defaults == Retention()
    assert parse_duration("120", "x") == 120.0
    with pytest.raises(ConfigurationError, match="--x"):
        parse_duration("-5m", "x")
