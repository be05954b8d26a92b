"""Shards: which shard gets a guild, and when each shard may IDENTIFY (buckets of
max_concurrency, one IDENTIFY per window each, a random 1-5 s first after an invalid session)."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.sharding import (
    IDENTIFY_MARGIN_FRACTION,
    IDENTIFY_MIN_MARGIN_SECONDS,
    IdentifyPacer,
    SessionStartLimit,
    shard_of,
)


class FakeTime:
    """A clock that only moves when the pacer sleeps, and in-memory slots like the table's."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.slots: dict[int, float] = {}
        self.sent: list[tuple[int, float]] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def claim(self, bucket: int, *, now: float, window: float) -> float:
        free_at = self.slots.get(bucket, 0.0)
        if free_at <= now:
            self.slots[bucket] = now + window
            return 0.0
        return free_at - now


def pacer(time: FakeTime, *, max_concurrency: int, starting: set[int]) -> IdentifyPacer:
    return IdentifyPacer(
        time.claim,
        max_concurrency=max_concurrency,
        starting=starting,
        window=5.0,
        clock=lambda: time.now,
        sleep=time.sleep,
        rng=random.Random(7),
    )


def test_the_sharding_formula() -> None:
    assert shard_of(0, 1) == 0
    guild_id = (123456 << 22) | 99
    assert shard_of(guild_id, 4) == 123456 % 4
    assert shard_of(guild_id, 1) == 0


def test_session_start_limit_from_get_gateway_bot() -> None:
    limit = SessionStartLimit.from_payload(
        {"total": 1000, "remaining": 998, "reset_after": 14_400_000, "max_concurrency": 16}
    )
    assert limit == SessionStartLimit(
        total=1000, remaining=998, reset_after=14_400.0, max_concurrency=16
    )


async def test_one_bucket_identifies_once_per_window() -> None:
    time = FakeTime()
    paced = pacer(time, max_concurrency=1, starting={0, 1, 2})
    for shard_id in (0, 1, 2):
        await paced.wait_turn(shard_id)
        time.sent.append((shard_id, time.now))
    hold = 5.0 * (1 + IDENTIFY_MARGIN_FRACTION)
    assert [at - 1000.0 for _, at in time.sent] == pytest.approx([0.0, hold, 2 * hold])


async def test_a_short_window_still_keeps_half_a_second_of_margin() -> None:
    # The margin covers the moment between taking the slot and the IDENTIFY reaching
    # Discord, which does not shrink with the window: a shortened window (tests, a bot
    # granted more) keeps at least half a second of it.
    time = FakeTime()
    paced = IdentifyPacer(
        time.claim,
        max_concurrency=1,
        starting={0, 1},
        window=1.0,
        clock=lambda: time.now,
        sleep=time.sleep,
    )
    for shard_id in (0, 1):
        await paced.wait_turn(shard_id)
        time.sent.append((shard_id, time.now))
    assert time.sent[1][1] - time.sent[0][1] == pytest.approx(1.0 + IDENTIFY_MIN_MARGIN_SECONDS)
    assert IDENTIFY_MIN_MARGIN_SECONDS >= 0.5


async def test_shards_of_different_buckets_identify_together() -> None:
    time = FakeTime()
    paced = pacer(time, max_concurrency=16, starting=set(range(32)))
    for shard_id in range(32):
        await paced.wait_turn(shard_id)
        time.sent.append((shard_id, time.now))
    # Shards 0-15 at once, then 16-31 (the same buckets again) one window later: in order.
    starts = {shard: at - 1000.0 for shard, at in time.sent}
    assert {starts[s] for s in range(16)} == {0.0}
    assert {round(starts[s], 6) for s in range(16, 32)} == {
        round(5.0 * (1 + IDENTIFY_MARGIN_FRACTION), 6)
    }


async def test_identifying_again_after_an_invalid_session_waits_1_to_5_seconds_first() -> None:
    time = FakeTime()
    paced = pacer(time, max_concurrency=4, starting={0})
    await paced.wait_turn(0)  # start-up: at once
    assert time.slept == []
    time.now += 60
    await paced.wait_turn(0)  # again: Discord asks for a random wait of 1 to 5 s
    assert len(time.slept) == 1 and 1.0 <= time.slept[0] <= 5.0


async def test_two_shards_of_one_bucket_in_one_process_do_not_both_take_the_slot() -> None:
    time = FakeTime()
    paced = pacer(time, max_concurrency=2, starting={0, 2})
    # Both in bucket 0, waiting at the same time (as after a resume failed for both).
    await asyncio.gather(paced.wait_turn(0), paced.wait_turn(2))
    assert time.slots[0] == pytest.approx(1000.0 + 2 * 5.0 * (1 + IDENTIFY_MARGIN_FRACTION))


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        IdentifyPacer(FakeTime().claim, max_concurrency=0)
