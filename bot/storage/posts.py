"""Where summaries were posted in a guild: cards posted on publishing, and announcements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.database import Database


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message in a guild that shows a summary."""

    guild_id: int
    channel_id: int
    message_id: int

    @property
    def jump_url(self) -> str:
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"


class SummaryPostRepository:
    """Records the cards posted for community summaries and finds a summary's messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, summary_id: int, *, guild_id: int, channel_id: int, message_id: int, now: float
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO summary_posts "
                "(summary_id, guild_id, channel_id, message_id, posted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (summary_id, message_id) DO NOTHING",
                (summary_id, guild_id, channel_id, message_id, now),
            )

    async def latest_in_guild(
        self, summary_ids: Sequence[int], guild_id: int
    ) -> dict[int, PostedMessage]:
        """For each summary, its most recent message in `guild_id`: the card posted when it
        was published or edited, or a delivered announcement (the outbox records those here
        when Discord accepts them). Summaries with none are left out."""
        if not summary_ids:
            return {}
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT summary_id, channel_id, message_id FROM summary_posts "
            "WHERE guild_id = ? AND " + dialect.in_list("summary_id") + " ORDER BY posted_at",
            (guild_id, dialect.list_param(summary_ids)),
        )
        found: dict[int, PostedMessage] = {}
        for row in rows:  # oldest first: the latest message of each summary wins
            found[int(row[0])] = PostedMessage(guild_id, int(row[1]), int(row[2]))
        return found
