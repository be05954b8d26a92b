"""The one request spacer and the one backoff function every part of the bot uses."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from bot.pacing import RequestSpacer, backoff_delay


async def test_spacer_reserves_slots_in_order() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    spacer = RequestSpacer(clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(3):
        await spacer.wait_turn(3.0)
    assert slept == [3.0, 6.0]
    now[0] = 100.0
    await spacer.wait_turn(3.0)
    assert slept == [3.0, 6.0]


async def test_spacer_per_second_spaces_evenly_by_default() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    spacer = RequestSpacer.per_second(4, clock=lambda: 10.0, sleep=fake_sleep)
    for _ in range(4):
        await spacer.wait_turn()
    assert slept == [0.25, 0.5, 0.75]
    spacer.reset()
    await spacer.wait_turn()
    assert slept == [0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        RequestSpacer.per_second(0)


async def test_a_stalled_event_loop_never_lets_waiting_callers_start_together() -> None:
    # Callers asleep until their slots all wake at once when the loop was blocked past
    # them (a long callback, a busy machine): they must still start `interval` apart, or a
    # bot sending at its share of Discord's global limit bursts over it.
    spacer = RequestSpacer(0.05)
    starts: list[float] = []

    async def caller() -> None:
        await spacer.wait_turn()
        starts.append(time.monotonic())

    callers = [asyncio.create_task(caller()) for _ in range(5)]
    await asyncio.sleep(0)  # every caller has its slot; the first one has started
    time.sleep(0.3)  # noqa: ASYNC251 -- on purpose: the loop is blocked past every slot
    await asyncio.gather(*callers)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Sleeping only ever lasts longer than asked, so a busy machine widens the gaps.
    assert min(gaps) >= 0.045, gaps

    # Later callers queue behind the pushed-back starts.
    await spacer.wait_turn()
    assert time.monotonic() - starts[-1] >= 0.045


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base_seconds=2, cap_seconds=60, jitter=False) for n in range(8)]
    assert delays == [2, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10**9, base_seconds=2, cap_seconds=60, jitter=False) == 60


def test_backoff_jitter_keeps_at_least_half() -> None:
    rng = random.Random(5)
    values = [backoff_delay(3, base_seconds=10, cap_seconds=1000, rng=rng) for _ in range(50)]
    assert all(20 <= value <= 40 for value in values)
    assert len(set(values)) == 50
