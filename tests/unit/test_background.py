"""The one supervised loop mechanism: failures are logged with their traceback and the loop
carries on after a backoff; each loop records its last run, success and error."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from bot.background import BackgroundLoop, BackgroundLoops, describe_exception


async def calls_reach(body: Flaky, count: int) -> None:
    async with asyncio.timeout(5):
        while body.calls < count:
            body.called.clear()
            await body.called.wait()


class Flaky:
    """Fails the first `failures` calls with an unexpected (non-database) error."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        self.called.set()
        if self.calls <= self.failures:
            raise KeyError(f"surprise {self.calls}")


async def test_an_unexpected_error_is_logged_and_the_loop_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = Flaky(failures=2)
    loop = BackgroundLoop("flaky", body, interval=0.01, backoff_base=0.01, backoff_cap=0.05)
    loop.start()
    try:
        await calls_reach(body, 4)
        assert loop.running
    finally:
        await loop.stop()
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert len(failures) == 2
    assert "flaky" in failures[0].getMessage() and "1 in a row" in failures[0].getMessage()
    status = loop.status()
    assert status.runs >= 4 and not status.running and not status.failing
    assert status.last_error == "KeyError: 'surprise 2'"
    assert status.last_success_at is not None and status.last_error_at is not None
    assert status.last_success_at >= status.last_error_at


async def test_failures_back_off_and_are_counted() -> None:
    now = [1000.0]
    loop = BackgroundLoop(
        "always failing",
        Flaky(failures=10),
        interval=5,
        backoff_base=10,
        backoff_cap=40,
        clock=lambda: now[0],
        rng=random.Random(1),
    )
    delays = [await loop.run_once() for _ in range(4)]
    assert 5 <= delays[0] <= 10  # at least the interval, and the backoff when longer
    assert 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40 and 20 <= delays[3] <= 40
    status = loop.status()
    assert status.failures_in_a_row == 4 and status.failing
    assert status.last_run_at == now[0] and status.last_success_at is None


async def test_before_first_run_failing_is_retried_too(caplog: pytest.LogCaptureFixture) -> None:
    ready = Flaky(failures=1)
    body = Flaky(failures=0)
    loop = BackgroundLoop(
        "waits", body, interval=10, before_first_run=ready, backoff_base=0.01, backoff_cap=0.01
    )
    loop.start()
    try:
        await calls_reach(body, 1)
    finally:
        await loop.stop()
    assert ready.calls == 2
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


async def test_run_soon_and_change_interval_cut_the_wait_short() -> None:
    body = Flaky(failures=0)
    loop = BackgroundLoop("slow", body, interval=3600)
    loop.start()
    try:
        await calls_reach(body, 1)
        loop.run_soon()
        await calls_reach(body, 2)
        loop.change_interval(0.01)
        await calls_reach(body, 4)
        assert loop.status().next_run_at is not None
    finally:
        await loop.stop()
    assert loop.status().next_run_at is None


async def test_run_soon_while_the_body_runs_runs_it_again_at_once() -> None:
    """A nudge that arrives while the body runs (a commit while the search indexer applies
    the log) is not lost: the body runs again at once, not after the interval."""
    second_run = asyncio.Event()
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            loop.run_soon()  # something to do came in meanwhile
        else:
            second_run.set()

    loop = BackgroundLoop("nudged", body, interval=3600)
    loop.start()
    try:
        async with asyncio.timeout(2):
            await second_run.wait()
    finally:
        await loop.stop()


async def test_the_registry_lists_starts_and_stops_loops() -> None:
    loops = BackgroundLoops()
    first = loops.start(BackgroundLoop("a", Flaky(0), interval=3600, description="does a"))
    loops.start(BackgroundLoop("b", Flaky(0), interval=3600))
    with pytest.raises(RuntimeError, match="already running"):
        loops.start(BackgroundLoop("a", Flaky(0), interval=1))
    assert [s.name for s in loops.statuses()] == ["a", "b"]
    assert loops.get("a") is first and loops.statuses()[0].description == "does a"
    await loops.stop(first)
    assert not first.running and [s.name for s in loops.statuses()] == ["b"]
    await loops.stop_all()
    assert loops.statuses() == []


def test_errors_are_described_on_one_bounded_line() -> None:
    assert describe_exception(ValueError("a\n  b")) == "ValueError: a b"
    long = describe_exception(RuntimeError("x" * 2000))
    assert len(long) == 500 and long.endswith("…")


async def test_a_failure_is_logged_as_an_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.background")
    loop = BackgroundLoop("once", Flaky(failures=1), interval=0)
    await loop.run_once()
    [record] = [r for r in caplog.records if r.name == "bot.background"]
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_stop_ends_the_loop_even_when_the_body_masks_the_cancellation() -> None:
    """A body that turns its cancellation into an ordinary error must not keep the loop
    going, or `stop()` (cog unload, shutdown) would wait forever."""
    entered = asyncio.Event()

    async def masks_cancellation() -> None:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cannot rollback - no transaction is active") from None

    loop = BackgroundLoop("masking", masks_cancellation, interval=0, backoff_base=0.01)
    loop.start()
    await entered.wait()
    await asyncio.wait_for(loop.stop(), timeout=5)
    assert not loop.running


async def test_a_database_outage_is_one_line_per_try_and_the_loop_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.storage import DatabaseUnavailableError

    calls = 0
    done = asyncio.Event()

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise DatabaseUnavailableError("ConnectionRefusedError: [Errno 111] refused")
        done.set()

    loop = BackgroundLoop("poller", body, interval=0.01, backoff_base=0.01, backoff_cap=0.05)
    loop.start()
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await loop.stop()
    outage = [r for r in caplog.records if "database is unavailable" in r.getMessage()]
    assert len(outage) == 2
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in outage)
    assert not loop.status().failing  # it recovered by itself
