"""Each process's share of Discord's global REST budget (50 requests a second per bot)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import pytest
from yarl import URL

from bot.rest_budget import GlobalRequestBudget

BOT = {"Authorization": "Bot abc.def"}


class FakeTime:
    """A clock that sleeping advances, so the spacing is measured exactly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def budget_on(time: FakeTime, limit: float = 50.0) -> GlobalRequestBudget:
    return GlobalRequestBudget(limit, clock=time.clock, sleep=time.sleep)


async def sends_in_one_second(budget: GlobalRequestBudget, time: FakeTime) -> int:
    """How many requests start within one second when they are made back to back."""
    started = time.now
    count = 0
    while True:
        await budget.wait_turn()
        if time.now - started >= 1.0:
            return count
        count += 1


async def test_alone_a_process_keeps_under_the_limit_with_headroom() -> None:
    time = FakeTime()
    budget = budget_on(time)
    assert budget.rate == pytest.approx(45.0)
    assert await sends_in_one_second(budget, time) == 45


@pytest.mark.parametrize("processes", [2, 3, 4, 7])
async def test_live_processes_together_stay_under_the_global_limit(processes: int) -> None:
    total = 0
    for _ in range(processes):
        time = FakeTime()
        budget = budget_on(time)
        budget.share_among(processes)
        assert budget.rate == pytest.approx(45.0 / processes)
        total += await sends_in_one_second(budget, time)
    assert 40 <= total <= 50


async def test_a_joining_process_takes_little_until_the_others_counted_it() -> None:
    time = FakeTime()
    budget = budget_on(time)
    budget.share_among(2, joined_for=10.0)
    assert budget.joining and budget.rate == pytest.approx(2.5)
    # The incumbent still takes the whole share of one process until its next heartbeat.
    assert 45 + await sends_in_one_second(budget, time) <= 50
    time.now += 10.0
    assert not budget.joining and budget.rate == pytest.approx(22.5)
    assert await sends_in_one_second(budget, time) == 23


async def test_a_process_alone_at_its_first_heartbeat_takes_its_share_at_once() -> None:
    time = FakeTime()
    budget = budget_on(time)
    budget.share_among(1, joined_for=10.0)
    assert not budget.joining and budget.rate == pytest.approx(45.0)
    # Counted again later, fewer processes: a larger share.
    budget.share_among(3)
    assert budget.rate == pytest.approx(15.0)
    budget.share_among(0)  # its own row not counted (a slow clock): still one process
    assert budget.live_processes == 1 and budget.rate == pytest.approx(45.0)


def test_a_granted_higher_limit_is_shared_too() -> None:
    budget = GlobalRequestBudget(1200.0)
    budget.share_among(4)
    assert budget.rate == pytest.approx(270.0)
    with pytest.raises(ValueError):
        GlobalRequestBudget(0)
    with pytest.raises(ValueError):
        GlobalRequestBudget(50, headroom=1.0)


@pytest.mark.parametrize(
    ("path", "headers", "counted"),
    [
        ("/api/v10/channels/1/messages", BOT, True),
        ("/api/v10/channels/1/webhooks", BOT, True),
        ("/api/v10/gateway/bot", BOT, True),
        ("/api/v10/interactions/1/tok/callback", BOT, False),
        ("/api/v10/webhooks/1/tok", {}, False),
        ("/api/v10/webhooks/1/tok/messages/@original", BOT, False),
        ("/interactions/1/tok/callback", BOT, False),
        ("/api/v10/channels/1/messages", {}, False),
        ("/api/v10/channels/1/messages", {"Authorization": "Bearer x"}, False),
        ("/", {}, False),  # the gateway's websocket
    ],
)
def test_what_counts_against_the_global_limit(
    path: str, headers: dict[str, str], counted: bool
) -> None:
    assert GlobalRequestBudget.counts(path, headers) is counted


async def test_the_trace_paces_requests_made_with_the_bot_token_only() -> None:
    time = FakeTime()
    budget = budget_on(time)
    trace = aiohttp.TraceConfig()
    budget.install(trace)
    [hook] = trace.on_request_start

    async def start(url: str, headers: dict[str, str]) -> None:
        params = aiohttp.TraceRequestStartParams("POST", URL(url), headers)  # type: ignore[arg-type]
        await hook(None, SimpleNamespace(), params)  # type: ignore[arg-type]

    for _ in range(3):
        await start("http://discord.test/api/v10/channels/1/messages", BOT)
    await start("http://discord.test/api/v10/interactions/9/tok/callback", {})
    assert budget.requests == 3
    assert time.now == pytest.approx(2 / 45)


async def test_waiting_callers_queue_first_come_first_served() -> None:
    time = FakeTime()
    budget = budget_on(time, limit=10.0)
    order: list[int] = []

    async def request(number: int) -> None:
        await budget.wait_turn()
        order.append(number)

    await asyncio.gather(*(request(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
