"""Poll intervals, their spread, and backoff after failures."""

from __future__ import annotations

import random

import pytest

from bot.announce.schedule import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    first_poll_delay,
    jittered,
    poll_interval,
)
from bot.pacing import backoff_delay


def feed_backoff(failures: int, rng: random.Random) -> float:
    """What the poller waits after failed polls."""
    return backoff_delay(
        failures, base_seconds=BACKOFF_BASE_SECONDS, cap_seconds=BACKOFF_CAP_SECONDS, rng=rng
    )


@pytest.mark.parametrize(
    ("base", "ttl", "max_age", "expected"),
    [
        (600, None, None, 600),
        (600, 5, None, 600),  # a shorter ttl never polls more often than configured
        (600, 30, None, 1800),  # ttl is in minutes
        (600, None, 900, 900),
        (600, 30, 2400, 2400),  # the longer hint wins
        (600, 1440, None, 3600),  # capped at an hour
        (600, None, 86400, 3600),
        (7200, 30, None, 7200),  # a configured interval above the cap is kept
        (1, None, None, 1),
        (600, 0, 0, 600),
    ],
)
def test_poll_interval(
    base: float, ttl: int | None, max_age: float | None, expected: float
) -> None:
    assert poll_interval(base, ttl_minutes=ttl, max_age_seconds=max_age) == expected


def test_jitter_stays_within_ten_percent_and_spreads() -> None:
    rng = random.Random(1)
    values = [jittered(600, rng) for _ in range(200)]
    assert all(540 <= value <= 660 for value in values)
    assert len({round(value) for value in values}) > 50


def test_feeds_added_together_are_spread_over_the_interval() -> None:
    rng = random.Random(2)
    delays = sorted(first_poll_delay(600, rng) for _ in range(100))
    assert all(300 <= delay <= 600 for delay in delays)
    assert delays[-1] - delays[0] > 200  # not bunched together


def test_backoff_doubles_from_five_minutes_to_a_day() -> None:
    rng = random.Random(3)
    for failures, full in [(1, 300), (2, 600), (3, 1200), (4, 2400), (9, 76800), (10, 86400)]:
        for _ in range(20):
            delay = feed_backoff(failures, rng)
            assert full / 2 <= delay <= full, (failures, delay)
    assert feed_backoff(10_000, rng) <= BACKOFF_CAP_SECONDS


def test_backoff_has_jitter() -> None:
    rng = random.Random(4)
    assert len({feed_backoff(3, rng) for _ in range(10)}) == 10
