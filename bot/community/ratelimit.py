"""The per-member submission rate limit, kept in the database so that every bot process on
it enforces one limit (`bot.storage.submissions`): at most `limit` publications per member
within any `window` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.rendering.text import plural
from bot.storage.database import Database
from bot.storage.submissions import Recorded, SubmissionRepository

Clock = Callable[[], float]


class SubmissionLimiter:
    """`check` only looks; `acquire` records a publication when one is allowed (and says how
    long to wait when not); `release` takes one back. Times are wall-clock seconds, the same
    for every process."""

    def __init__(
        self, db: Database, limit: int, window: float, *, clock: Clock = time.time
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.repo = SubmissionRepository(db)

    async def check(self, member_id: int) -> float:
        """Seconds until `member_id` may publish again (0 when now); records nothing."""
        return await self.repo.wait_before_next(
            member_id, limit=self.limit, window=self.window, now=self.clock()
        )

    async def acquire(self, member_id: int) -> Recorded:
        """Record a publication if allowed (`token` set), else the wait in seconds."""
        return await self.repo.record(
            member_id, limit=self.limit, window=self.window, now=self.clock()
        )

    async def release(self, token: str) -> None:
        """Take back a recorded publication that did not happen after all."""
        await self.repo.forget(token)

    async def prune(self) -> int:
        """Forget publications that no window still counts."""
        return await self.repo.prune(before=self.clock() - self.window)


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
