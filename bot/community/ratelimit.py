"""A per-key sliding-window rate limiter for submissions (in memory, per process)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

from bot.rendering.text import plural

Clock = Callable[[], float]


class SlidingWindowLimiter:
    """At most `limit` events per key within any `window` seconds.

    `check` only looks; `acquire` records an event when one is allowed. Both return the number
    of seconds to wait before the next event is allowed, or 0 when it is allowed now.
    """

    def __init__(self, limit: int, window: float, *, clock: Clock = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[Hashable, deque[float]] = {}

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            # Keep the dictionary from growing with every member who ever submitted.
            del self._events[key]
        return events

    def check(self, key: Hashable) -> float:
        """Seconds until `key` may act again (0 when it may act now); records nothing."""
        now = self._clock()
        events = self._recent(key, now)
        if len(events) < self.limit:
            return 0.0
        return max(events[0] + self.window - now, 0.0)

    def acquire(self, key: Hashable) -> float:
        """Record an event for `key` if allowed and return 0, else return the wait in seconds."""
        wait = self.check(key)
        if wait > 0:
            return wait
        self._events.setdefault(key, deque()).append(self._clock())
        return 0.0

    def release(self, key: Hashable) -> None:
        """Forget the latest event of `key` (the action it allowed did not happen after all)."""
        events = self._events.get(key)
        if events:
            events.pop()
            if not events:
                del self._events[key]


def describe_wait(seconds: float) -> str:
    """'42 seconds', '3 minutes', '1 hour 5 minutes': for the message a limited user sees."""
    total = max(int(seconds + 0.999), 1)
    if total < 60:
        return plural(total, "second")
    minutes = (total + 59) // 60
    if minutes < 60:
        return plural(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    text = plural(hours, "hour")
    if minutes:
        text += " " + plural(minutes, "minute")
    return text
