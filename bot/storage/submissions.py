"""The submission rate limit's record, shared by every bot process on the database.

One `submission_events` row per publication. Counting and recording happen in one
transaction that first takes the member's lock (`Database.lock`): on PostgreSQL that makes
two processes checking the same member take turns (the second counts after the first
committed), and SQLite's single writer serialises them anyway; so concurrent submits from
several processes never exceed the limit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bot.storage.database import Database


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` did: `token` names the event recorded (None when refused), `wait` is
    how long until the member may submit again when refused (0 when recorded)."""

    token: str | None
    wait: float


class SubmissionRepository:
    """Counts and records members' publications within a sliding window."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def wait_before_next(
        self, member_id: int, *, limit: int, window: float, now: float
    ) -> float:
        """Seconds until `member_id` may publish again (0 when now); records nothing."""
        rows = await self.db.fetchall(
            "SELECT at FROM submission_events WHERE member_id = ? AND at > ? ORDER BY at",
            (member_id, now - window),
        )
        return _wait([float(row[0]) for row in rows], limit=limit, window=window, now=now)

    async def record(self, member_id: int, *, limit: int, window: float, now: float) -> Recorded:
        """Record a publication of `member_id` when the window allows one, atomically."""
        async with self.db.transaction() as conn:
            await self.db.lock(conn, "submissions", member_id)
            await conn.execute(
                "DELETE FROM submission_events WHERE member_id = ? AND at <= ?",
                (member_id, now - window),
            )
            rows = await conn.fetchall(
                "SELECT at FROM submission_events WHERE member_id = ? ORDER BY at", (member_id,)
            )
            wait = _wait([float(row[0]) for row in rows], limit=limit, window=window, now=now)
            if wait > 0:
                return Recorded(token=None, wait=wait)
            token = secrets.token_hex(8)
            await conn.execute(
                "INSERT INTO submission_events (token, member_id, at) VALUES (?, ?, ?)",
                (token, member_id, now),
            )
        return Recorded(token=token, wait=0.0)

    async def forget(self, token: str) -> None:
        """Take back a recorded publication (it did not happen after all)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM submission_events WHERE token = ?", (token,))

    async def prune(self, *, before: float) -> int:
        """Forget publications older than `before` (out of any window). Returns how many
        went."""
        async with self.db.transaction() as conn:
            return await conn.execute("DELETE FROM submission_events WHERE at < ?", (before,))


def _wait(times: list[float], *, limit: int, window: float, now: float) -> float:
    """Given the member's publications within the window (oldest first): 0 when another is
    allowed, else the seconds until the oldest leaves the window."""
    if len(times) < limit:
        return 0.0
    return max(times[len(times) - limit] + window - now, 0.0)
