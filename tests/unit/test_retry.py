"""Retry policy: exponential backoff with full jitter, a cap, and a last attempt."""

from __future__ import annotations

import math

import pytest

from interlink.delivery.retry import RetryPolicy


@pytest.mark.parametrize(("base", "cap"), [(0.5, 60.0), (0.1, 1.0), (2.0, 2.0), (0.0, 0.0), (0.01, 1000.0)])
def test_delays_stay_within_the_backoff_ceiling(base: float, cap: float) -> None:
    """Every delay after attempt n lies in [0, min(cap, base * 2**(n-1))], over many draws."""
    policy = RetryPolicy(max_attempts=20, base_delay=base, max_delay=cap)
    for attempt in range(1, 21):
        ceiling = min(cap, base * 2 ** (attempt - 1))
        for _ in range(500):
            assert 0 <= policy.delay(attempt) <= ceiling


def test_delays_are_jittered() -> None:
    """Delays are spread over their range, not all the same (full jitter)."""
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    draws = [policy.delay(4) for _ in range(1000)]
    assert len(set(draws)) > 900
    assert min(draws) < 2.0
    assert max(draws) > 6.0


def test_cap_holds_for_any_attempt_number() -> None:
    """However many attempts were made, the delay is a finite number within [0, max_delay]."""
    policy = RetryPolicy(max_attempts=100_000, base_delay=0.5, max_delay=60.0)
    for attempt in (50, 1000, 1025, 1100, 5000, 99_999):
        delay = policy.delay(attempt)
        assert math.isfinite(delay)
        assert 0 <= delay <= 60.0


def test_exhausted_at_max_attempts() -> None:
    """exhausted() is false before max_attempts and true from it on."""
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_one_attempt_is_exhausted_at_once() -> None:
    """With max_attempts=1, the first failure is the last."""
    assert RetryPolicy(max_attempts=1).exhausted(1)


def test_defaults_are_valid() -> None:
    """The default policy is five attempts, backoff from half a second capped at 30 s, a 20-minute budget."""
    assert RetryPolicy() == RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=30.0, budget=1200.0, redrive=True)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_attempts": 0},
        {"max_attempts": -3},
        {"base_delay": -0.1},
        {"base_delay": 5.0, "max_delay": 1.0},
        {"max_delay": -1.0},
    ],
    ids=["zero-attempts", "negative-attempts", "negative-base", "cap-below-base", "negative-cap"],
)
def test_invalid_settings_are_rejected(settings: dict[str, float]) -> None:
    """Settings that make no sense raise ValueError at construction."""
    with pytest.raises(ValueError, match=r"max_attempts must be at least 1|0 <= base_delay <= max_delay"):
        RetryPolicy(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings",
    [
        {"base_delay": math.nan},
        {"max_delay": math.nan},
        {"base_delay": math.nan, "max_delay": math.nan},
        {"base_delay": math.inf, "max_delay": math.inf},
    ],
    ids=["nan-base", "nan-cap", "nan-both", "inf-base"],
)
def test_non_finite_delays_are_rejected(settings: dict[str, float]) -> None:
    """A NaN or infinite delay setting raises ValueError instead of producing unusable delays."""
    with pytest.raises(ValueError, match="delay"):
        RetryPolicy(**settings)  # type: ignore[arg-type]
