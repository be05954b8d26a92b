"""The per-member submission rate limit, in the database: a sliding window with an injected
clock, shared by every process (two `Database` objects on one database stand for two bot
processes), on both engines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.community.ratelimit import SubmissionLimiter, describe_wait
from bot.storage import Database
from tests.databases import DatabaseFactory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def url(databases: DatabaseFactory) -> str:
    return await databases.url()


@pytest.fixture
async def db(databases: DatabaseFactory, url: str) -> Database:
    return await databases.open_url(url)


async def test_allows_the_limit_then_refuses_with_the_wait(db: Database) -> None:
    clock = FakeClock()
    limiter = SubmissionLimiter(db, 5, 600, clock=clock)
    for _ in range(5):
        assert (await limiter.acquire(1)).token is not None
        clock.now += 10
    # The first event was 50 s ago: it leaves the window in 550 s.
    assert await limiter.check(1) == pytest.approx(550)
    refused = await limiter.acquire(1)
    assert refused.token is None and refused.wait == pytest.approx(550)
    clock.now += 549
    assert (await limiter.acquire(1)).wait > 0
    clock.now += 1
    assert (await limiter.acquire(1)).token is not None


async def test_members_are_independent(db: Database) -> None:
    limiter = SubmissionLimiter(db, 1, 60, clock=FakeClock())
    assert (await limiter.acquire(1)).token is not None
    assert (await limiter.acquire(1)).token is None
    assert (await limiter.acquire(2)).token is not None


async def test_check_records_nothing_and_release_gives_back(db: Database) -> None:
    limiter = SubmissionLimiter(db, 1, 60, clock=FakeClock())
    for _ in range(3):
        assert await limiter.check(5) == 0
    token = (await limiter.acquire(5)).token
    assert token is not None
    await limiter.release(token)
    assert (await limiter.acquire(5)).token is not None


async def test_refused_attempts_do_not_extend_the_window(db: Database) -> None:
    clock = FakeClock()
    limiter = SubmissionLimiter(db, 2, 100, clock=clock)
    await limiter.acquire(9)
    await limiter.acquire(9)
    for _ in range(10):
        clock.now += 5
        assert (await limiter.acquire(9)).wait > 0
    clock.now = 1100.0
    assert (await limiter.acquire(9)).token is not None


async def test_pruning_forgets_what_no_window_counts(db: Database) -> None:
    clock = FakeClock()
    limiter = SubmissionLimiter(db, 3, 10, clock=clock)
    for member in range(20):
        await limiter.acquire(member)
    clock.now += 5
    await limiter.acquire(0)
    clock.now += 6  # all but member 0's second publication are out of the window
    assert await limiter.prune() == 20
    assert await db.fetchval("SELECT count(*) FROM submission_events") == 1


async def test_the_limit_is_one_limit_across_processes(
    db: Database, databases: DatabaseFactory, url: str
) -> None:
    """Two processes (two database objects on one database, each with its own connections)
    publishing for the same member at once: never more than the limit in total, and each
    sees the other's (on PostgreSQL the transactions run side by side)."""
    other = await databases.open_url(url)
    clock = FakeClock()
    first = SubmissionLimiter(db, 3, 600, clock=clock)
    second = SubmissionLimiter(other, 3, 600, clock=clock)
    attempts = [limiter.acquire(42) for _ in range(10) for limiter in (first, second)]
    results = await asyncio.gather(*attempts)
    assert sum(result.token is not None for result in results) == 3
    assert await first.check(42) > 0 and await second.check(42) > 0


def test_rejects_nonsense_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SubmissionLimiter(None, 0, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SubmissionLimiter(None, 1, 0)  # type: ignore[arg-type]


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
