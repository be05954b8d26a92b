"""Fetch slots: a total, a share per server, shared feeds counted once, nobody starved."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from bot.announce.slots import NO_GUILD, FetchSlots


class Holder:
    """Holds a slot until released, recording which server it was charged to."""

    def __init__(self, slots: FetchSlots, guild_ids: Collection[int]) -> None:
        self.charged: int | None = None
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._hold(slots, guild_ids))

    async def _hold(self, slots: FetchSlots, guild_ids: Collection[int]) -> None:
        async with slots.slot(guild_ids) as guild_id:
            self.charged = guild_id
            await self.release.wait()

    async def done(self) -> None:
        self.release.set()
        await self.task


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_server_holds_at_most_its_share_while_others_go_ahead() -> None:
    slots = FetchSlots(total=4, per_guild=2)
    busy = [Holder(slots, [1]) for _ in range(5)]
    other = Holder(slots, [2])
    await settle()
    assert [holder.charged for holder in busy] == [1, 1, None, None, None]
    assert other.charged == 2
    assert slots.in_use == 3 and slots.in_use_by(1) == 2
    await busy[0].done()
    await settle()
    assert [holder.charged for holder in busy[1:]] == [1, 1, None, None]  # the next in line
    for holder in [*busy, other]:
        await holder.done()
    assert slots.in_use == 0


async def test_a_shared_feed_counts_once_against_a_server_with_room() -> None:
    slots = FetchSlots(total=4, per_guild=2)
    first, second = Holder(slots, [1]), Holder(slots, [1])
    shared = Holder(slots, [1, 2])
    await settle()
    assert shared.charged == 2 and slots.in_use_by(1) == 2 and slots.in_use_by(2) == 1
    for holder in (first, second, shared):
        await holder.done()


async def test_the_total_caps_everyone_in_order() -> None:
    slots = FetchSlots(total=2, per_guild=2)
    holders = [Holder(slots, [guild]) for guild in (1, 2, 3, 4)]
    await settle()
    assert [holder.charged for holder in holders] == [1, 2, None, None]
    await holders[1].done()
    await settle()
    assert [holder.charged for holder in holders[2:]] == [3, None]
    for holder in holders:
        await holder.done()


async def test_cancelled_waiters_take_no_slot_and_give_back_a_granted_one() -> None:
    slots = FetchSlots(total=1, per_guild=1)
    holding = Holder(slots, [1])
    waiting = Holder(slots, [2])
    await settle()
    waiting.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting.task
    await holding.done()
    assert slots.in_use == 0
    late = Holder(slots, [])  # a feed no server subscribes to any more
    await settle()
    assert late.charged == NO_GUILD
    await late.done()
    assert slots.in_use == 0
