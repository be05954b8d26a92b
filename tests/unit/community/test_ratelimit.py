"""The per-user submission rate limiter: a sliding window with an injected clock."""

from __future__ import annotations

import pytest

from bot.community.ratelimit import SlidingWindowLimiter, describe_wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_the_limit_then_refuses_with_the_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 600, clock=clock)
    for _ in range(5):
        assert limiter.acquire("alice") == 0
        clock.now += 10
    # The first event was 50 s ago: it leaves the window in 550 s.
    assert limiter.check("alice") == pytest.approx(550)
    assert limiter.acquire("alice") == pytest.approx(550)
    clock.now += 549
    assert limiter.acquire("alice") > 0
    clock.now += 1
    assert limiter.acquire("alice") == 0


def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    assert limiter.acquire(1) == 0
    assert limiter.acquire(1) > 0
    assert limiter.acquire(2) == 0


def test_check_records_nothing_and_release_gives_back() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    for _ in range(3):
        assert limiter.check("bob") == 0
    assert limiter.acquire("bob") == 0
    limiter.release("bob")
    assert limiter.acquire("bob") == 0


def test_refused_attempts_do_not_extend_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 100, clock=clock)
    limiter.acquire("x")
    limiter.acquire("x")
    for _ in range(10):
        clock.now += 5
        assert limiter.acquire("x") > 0
    clock.now = 1100.0
    assert limiter.acquire("x") == 0


def test_forgets_idle_keys() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 10, clock=clock)
    for key in range(100):
        limiter.acquire(key)
    clock.now += 11
    for key in range(100):
        assert limiter.check(key) == 0
    assert limiter._events == {}


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 10)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 second"),
        (42, "42 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (550, "10 minutes"),
        (3600, "1 hour"),
        (3720, "1 hour 2 minutes"),
    ],
)
def test_describe_wait(seconds: float, text: str) -> None:
    assert describe_wait(seconds) == text
