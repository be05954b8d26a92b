"""Fetch slots shared fairly between servers: one server's slow feeds cannot starve the rest.

Any server may add feeds, and a feed may be slow on purpose (a "slowloris" server trickles
its answer and holds a slot for the whole fetch timeout). With one pool of slots, one server's
25 such feeds would hold every slot and delay every other server's polls. So each server may
hold at most `per_guild` of the `total` slots.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

# The bucket of a feed nobody subscribes to any more (removed while its poll was due).
NO_GUILD = 0


class FetchSlots:
    """At most `total` polls at once, and at most `per_guild` charged to any one server.

    A poll names the servers subscribed to its feed. It starts when a slot is free and one of
    those servers is under its share, and is charged to that one (the one with the fewest
    polls running), so a feed shared by several servers counts once, and a feed popular
    across servers still gets a slot when one of them is busy. Waiting polls start in the
    order they came, skipping those whose servers are all at their share.
    """

    def __init__(self, total: int, per_guild: int) -> None:
        if total < 1 or per_guild < 1:
            raise ValueError("slots must be at least 1")
        self.total = total
        self.per_guild = min(per_guild, total)
        self._in_use = 0
        self._running: Counter[int] = Counter()
        self._waiting: deque[tuple[Collection[int], asyncio.Future[int]]] = deque()

    @property
    def in_use(self) -> int:
        return self._in_use

    def in_use_by(self, guild_id: int) -> int:
        return self._running[guild_id]

    @asynccontextmanager
    async def slot(self, guild_ids: Collection[int]) -> AsyncIterator[int]:
        """Hold a slot for a feed these servers subscribe to; yields the server charged."""
        guild_id = await self._acquire(guild_ids or (NO_GUILD,))
        try:
            yield guild_id
        finally:
            self._release(guild_id)

    async def _acquire(self, guild_ids: Collection[int]) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((guild_ids, future))
        self._start_waiting()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(future.result())  # granted just as the waiter was cancelled
            raise

    def _release(self, guild_id: int) -> None:
        self._in_use -= 1
        self._running[guild_id] -= 1
        if self._running[guild_id] <= 0:
            del self._running[guild_id]
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Grant free slots to waiting polls, oldest first, skipping those that must wait.

        Stops as soon as the slots are all taken, so a release costs a look at the polls
        skipped (those of servers at their share), not at every poll waiting.
        """
        skipped: list[tuple[Collection[int], asyncio.Future[int]]] = []
        while self._waiting and self._in_use < self.total:
            guild_ids, future = self._waiting.popleft()
            if future.done():  # its poll was cancelled while waiting
                continue
            guild_id = self._free_guild(guild_ids)
            if guild_id is None:
                skipped.append((guild_ids, future))
                continue
            self._in_use += 1
            self._running[guild_id] += 1
            future.set_result(guild_id)
        self._waiting.extendleft(reversed(skipped))

    def _free_guild(self, guild_ids: Collection[int]) -> int | None:
        open_guilds = [g for g in guild_ids if self._running[g] < self.per_guild]
        if not open_guilds:
            return None
        return min(open_guilds, key=lambda guild_id: (self._running[guild_id], guild_id))
