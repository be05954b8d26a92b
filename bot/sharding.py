"""Shards: which guild belongs to which, and when a shard may IDENTIFY.

Discord routes a guild's events to shard `(guild_id >> 22) % shard_count` (direct messages
to shard 0). Starting a session (IDENTIFY) is rate limited for the whole bot: shards fall
into `max_concurrency` buckets (`shard_id % max_concurrency`, from GET /gateway/bot), and
each bucket may IDENTIFY once every 5 seconds. Going faster is answered with an invalid
session; more than the daily session starts (`session_start_limit.remaining`) gets every
session closed and the bot's token reset.

discord.py's own pacing sleeps 5 s before every IDENTIFY but the first, in one process,
whatever `max_concurrency` says. `IdentifyPacer` replaces it (the bot's
`before_identify_hook`): buckets, shared by every process through the database.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger(__name__)

# Discord's IDENTIFY window per bucket (not sent by Discord; documented as 5 seconds).
IDENTIFY_WINDOW_SECONDS: Final = 5.0
# A bucket's slot is held a tenth longer than the window, and at least half a second longer:
# the IDENTIFY leaves a moment after the slot is taken (later on a busy event loop), and
# network jitter must never make two arrive closer than allowed. Neither shrinks with the
# window.
IDENTIFY_MARGIN_FRACTION: Final = 0.1
IDENTIFY_MIN_MARGIN_SECONDS: Final = 0.5
# After an invalid session Discord asks for a random wait of 1 to 5 seconds before a new
# IDENTIFY.
REIDENTIFY_DELAY_RANGE: Final = (1.0, 5.0)

# claim(bucket, now=, window=) -> 0 when the slot was taken, else seconds until it frees up.
ClaimSlot = Callable[..., Awaitable[float]]


class GatewayUnreachableError(RuntimeError):
    """The first connection to the gateway failed: the bot cannot serve at all."""

    def __init__(self, gateway_url: str, reason: BaseException) -> None:
        super().__init__(f"{gateway_url} ({str(reason) or type(reason).__name__})")
        self.gateway_url = gateway_url
        self.reason = reason


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends `guild_id`'s events to."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class SessionStartLimit:
    """GET /gateway/bot's `session_start_limit` (reset_after in seconds)."""

    total: int
    remaining: int
    reset_after: float
    max_concurrency: int

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SessionStartLimit:
        return cls(
            total=int(payload["total"]),
            remaining=int(payload["remaining"]),
            reset_after=float(payload["reset_after"]) / 1000,
            max_concurrency=max(1, int(payload.get("max_concurrency") or 1)),
        )


class IdentifyPacer:
    """Lets each shard IDENTIFY only when its bucket's slot is free.

    `claim` takes a bucket's slot across every process (`bot.storage.processes.IdentifySlots`);
    within this process a lock per bucket keeps two shards of one bucket from both waiting on
    the same slot. A shard that identifies again after its session was invalidated (not at
    start-up: `starting` names those) first waits the random 1-5 s Discord asks for.
    """

    def __init__(
        self,
        claim: ClaimSlot,
        *,
        max_concurrency: int,
        starting: set[int] | None = None,
        window: float = IDENTIFY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._claim = claim
        self.max_concurrency = max_concurrency
        self.window = window
        self._starting = set(starting or ())
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._locks: dict[int, asyncio.Lock] = {}

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    async def wait_turn(self, shard_id: int) -> None:
        """Return when `shard_id` may send its IDENTIFY (its bucket's slot is now taken)."""
        if shard_id in self._starting:
            self._starting.discard(shard_id)
        else:
            delay = self._rng.uniform(*REIDENTIFY_DELAY_RANGE)
            log.info("Shard %d identifies again in %.1f s", shard_id, delay)
            await self._sleep(delay)
        bucket = self.bucket(shard_id)
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            hold = self.window + max(
                self.window * IDENTIFY_MARGIN_FRACTION, IDENTIFY_MIN_MARGIN_SECONDS
            )
            while True:
                wait = await self._claim(bucket, now=self._clock(), window=hold)
                if wait <= 0:
                    return
                log.debug("Shard %d waits %.2f s for IDENTIFY bucket %d", shard_id, wait, bucket)
                await self._sleep(wait)
