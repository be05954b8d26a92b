"""Announcing new community summaries in the channel a guild chose with `/announce channel`."""

from __future__ import annotations

import time

import aiosqlite

from bot.storage.database import Database
from bot.storage.feeds import CommunityAnnounceRepository
from bot.storage.outbox import OutboxRepository

# The event to dispatch (`bot.dispatch(ANNOUNCEMENT_ENQUEUED)`) after committing rows written
# with `enqueue_community_announcement`, so the sender posts them at once.
ANNOUNCEMENT_ENQUEUED = "announcement_enqueued"


async def enqueue_community_announcement(
    db: Database,
    summary_id: int,
    guild_id: int,
    conn: aiosqlite.Connection | None = None,
    *,
    now: float | None = None,
) -> int | None:
    """Queue the announcement of a new community summary of `guild_id`.

    Returns the outbox row id, or None when the guild has no announce channel (or Discord
    said it is gone or forbidden). Pass `conn` to write the row in the transaction that
    creates the summary, so that both exist or neither does; the row is then delivered
    exactly once, after a crash too. After the commit, `bot.dispatch("announcement_enqueued")`
    makes the sender post it at once (otherwise it is picked up within a few seconds).
    The announcement shows the summary as feed announcements do, pinging nobody.
    """
    target = await CommunityAnnounceRepository(db).get(guild_id, conn=conn)
    if target is None or target.disabled_reason is not None:
        return None
    return await OutboxRepository(db).enqueue(
        kind="summary",
        guild_id=guild_id,
        channel_id=target.channel_id,
        summary_id=summary_id,
        now=time.time() if now is None else now,
        conn=conn,
    )
