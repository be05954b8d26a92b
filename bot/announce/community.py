"""Posting community summaries: the card where one was written, and the announcement in the
channel a guild chose with `/announce channel`.

Both are outbox rows written in the transaction that saves the summary, so they exist
exactly when the summary does and are delivered exactly once, after a crash too (a kill
right after Publish loses nothing). When the two channels are the same, one message goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.storage.database import Connection, Database
from bot.storage.feeds import CommunityAnnounceRepository
from bot.storage.outbox import OutboxRepository

# The event to dispatch (`bot.dispatch(ANNOUNCEMENT_ENQUEUED)`) after committing rows written
# here, so the sender posts them at once.
ANNOUNCEMENT_ENQUEUED = "announcement_enqueued"


@dataclass(frozen=True, slots=True)
class SummaryCard:
    """What to post about a community summary just saved."""

    summary_id: int
    guild_id: int
    # Where it was written; None when the bot cannot post there (the caller answers then).
    channel_id: int | None
    # The line above the card ("📝 <@member> wrote a summary.").
    headline: str
    # A new summary is also announced in the guild's /announce channel.
    announce: bool


async def enqueue_community_announcement(
    db: Database,
    summary_id: int,
    guild_id: int,
    conn: Connection | None = None,
    *,
    now: float | None = None,
    headline: str | None = None,
) -> int | None:
    """Queue the announcement of a new community summary of `guild_id`.

    Returns the outbox row id, or None when the guild has no announce channel (or Discord
    said it is gone or forbidden). Pass `conn` to write the row in the transaction that
    creates the summary, so that both exist or neither does. After the commit,
    `bot.dispatch("announcement_enqueued")` makes the sender post it at once (otherwise it
    is picked up within a few seconds). It shows the summary as feed announcements do, with
    Read and 👍 / 👎, pinging nobody.
    """
    target = await CommunityAnnounceRepository(db).get(guild_id, conn=conn)
    if target is None or target.disabled_reason is not None:
        return None
    return await OutboxRepository(db).enqueue(
        kind="summary",
        guild_id=guild_id,
        channel_id=target.channel_id,
        summary_id=summary_id,
        text=headline,
        now=time.time() if now is None else now,
        conn=conn,
    )


async def enqueue_summary_cards(
    db: Database, card: SummaryCard, conn: Connection, *, now: float | None = None
) -> int:
    """Queue the card in the channel where the summary was written and, for a new summary,
    its announcement in the /announce channel (once when they are the same channel), in the
    caller's transaction. Returns how many messages were queued."""
    return await OutboxRepository(db).enqueue_summary_posts(
        summary_id=card.summary_id,
        guild_id=card.guild_id,
        written_in=card.channel_id,
        announce=card.announce,
        text=card.headline,
        now=time.time() if now is None else now,
        conn=conn,
    )
