"""Pacing outgoing work: requests spaced evenly, retries backed off.

One `RequestSpacer` serves every caller that must keep to a rate (announcements under
Discord's global limit, arXiv's one request every three seconds), and one `backoff_delay`
computes every wait after a failure (feed polls, outbox rows, arXiv look-ups, background
loops). Both import nothing of the bot, so any layer may use them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any


class RequestSpacer:
    """Starts of successive requests at least `interval` seconds apart, for every caller.

    Each caller reserves the next free slot and sleeps outside any lock, so waiting callers
    queue in order (first come, first served) and none holds up the others while it sleeps.
    A caller woken after its slot (the event loop was blocked past it) starts `interval`
    after the previous start instead, so callers woken together never start together.
    """

    def __init__(
        self,
        interval: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if interval < 0:
            raise ValueError("the interval between requests cannot be negative")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next_free: float = float("-inf")
        # The earliest the next caller may start: the latest start plus its spacing.
        self._next_start: float = float("-inf")

    @classmethod
    def per_second(cls, rate: float, **options: Any) -> RequestSpacer:
        """At most `rate` requests per second, spaced evenly (a leaky bucket)."""
        if rate <= 0:
            raise ValueError("the rate must be positive")
        return cls(1.0 / rate, **options)

    async def wait_turn(self, interval: float | None = None) -> None:
        """Wait for this caller's slot; the next one is `interval` (default: the spacer's)
        seconds later."""
        spacing = self.interval if interval is None else interval
        # No await between reading and writing the slots: atomic on one event loop.
        now = self._clock()
        slot = max(now, self._next_free)
        self._next_free = slot + spacing
        if slot > now:
            await self._sleep(slot - now)
            now = self._clock()
        if now <= slot:
            self._next_start = slot + spacing
            return
        # Woken late, maybe with every caller whose slot passed meanwhile: start after the
        # previous start, and push later slots back as far.
        start = max(now, self._next_start)
        self._next_start = start + spacing
        self._next_free = max(self._next_free, self._next_start)
        if start > now:
            await self._sleep(start - now)

    def reset(self) -> None:
        self._next_free = float("-inf")
        self._next_start = float("-inf")


def backoff_delay(
    failures: int,
    *,
    base_seconds: float,
    cap_seconds: float,
    jitter: bool = True,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the `failures`-th failure in a row: `base_seconds`, doubling
    with each failure, at most `cap_seconds`.

    With `jitter` ("equal jitter") the delay is anywhere from half of that to all of it:
    never retried sooner than half the backoff, while things that failed together (feeds
    on one host, rows of one outage) retry apart.
    """
    exponent = max(failures - 1, 0)
    # Past 2**40 the cap has long been reached; avoid huge floats.
    delay = min(base_seconds * 2.0 ** min(exponent, 40), cap_seconds)
    if not jitter:
        return delay
    return delay / 2 + (rng or random).uniform(0, delay / 2)
