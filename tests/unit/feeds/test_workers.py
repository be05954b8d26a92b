"""Feed work in worker processes: the same results as in-process, bounded in time, and a
worker that is stuck or dies costs one job, never the pool."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.feeds import parse_feed
from bot.feeds.workers import FeedWorkError, FeedWorkers
from tests.unit.announce.test_poller import slow_body

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"


@pytest.fixture
async def workers() -> AsyncIterator[FeedWorkers]:
    pool = FeedWorkers(workers=1, timeout=2.0)
    yield pool
    await pool.close()


async def test_parsing_happens_in_another_process_with_the_same_result(
    workers: FeedWorkers,
) -> None:
    body = (FIXTURES / "shortscience.xml").read_bytes()
    url, headers = "https://www.shortscience.org/rss.xml", {"content-type": "application/xml"}
    parsed = await workers.parse(body, url=url, headers=headers)
    assert parsed == parse_feed(body, url=url, headers=headers)
    assert await workers.run(os.getpid) != os.getpid()


async def test_a_parse_over_its_time_budget_fails_only_that_feed(workers: FeedWorkers) -> None:
    workers.timeout = 0.3
    started = time.monotonic()
    parsed = await workers.parse(slow_body())
    assert not parsed.is_feed
    assert parsed.error == "reading it took over 0.3 s, the most one feed may take"
    assert time.monotonic() - started < 30  # ended, not waited for (it takes ~4 s)
    # Its worker was replaced: the next feed parses as usual.
    body = (FIXTURES / "shortscience.xml").read_bytes()
    assert (await workers.parse(body)).is_feed


async def test_a_worker_that_dies_costs_one_job(workers: FeedWorkers) -> None:
    with pytest.raises(FeedWorkError, match="stopped unexpectedly"):
        await workers.run(os._exit, 3)
    assert (await workers.parse((FIXTURES / "rss20.xml").read_bytes())).is_feed


async def test_errors_of_the_job_itself_come_back_as_they_are(workers: FeedWorkers) -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        await workers.run(int, "not a number")


async def test_closing_cancels_jobs_still_running(workers: FeedWorkers) -> None:
    job = asyncio.create_task(workers.run(time.sleep, 30))
    await asyncio.sleep(0.2)
    await workers.close()
    with pytest.raises(asyncio.CancelledError):
        await job
