"""The one request spacer and the one backoff function every part of the bot uses."""

from __future__ import annotations

import random

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


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base_seconds=2, cap_seconds=60, jitter=False) for n in range(8)]
    assert delays == [2, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10**9, base_seconds=2, cap_seconds=60, jitter=False) == 60


def test_backoff_jitter_keeps_at_least_half() -> None:
    rng = random.Random(5)
    values = [backoff_delay(3, base_seconds=10, cap_seconds=1000, rng=rng) for _ in range(50)]
    assert all(20 <= value <= 40 for value in values)
    assert len(set(values)) == 50
