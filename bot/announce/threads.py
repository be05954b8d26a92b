"""Threads under announcements and posts in forum channels: what the outbox sender asks of
Discord for a subscription made with `/feed add ... thread:true` or with a forum channel.

`ThreadOperations` is the sender's view of it (tests hand the sender a stand-in);
`DiscordThreads` does it with discord.py. Each call is one step the sender records, so that
a thread or a post is made once per outbox row even across a crash:

- A thread is started from the row's message (`POST .../messages/{id}/threads`); it has the
  message's id. Before asking again after an attempt whose answer was lost, the sender reads
  the message (`GET`, its `thread` field); Discord refuses a second thread on one message
  (160004), which also means the thread exists.
- A forum post (`POST /channels/{forum}/threads` with its first message) takes no nonce, so
  before asking again the sender looks for the post whose first message carries the row's
  marker (its buttons), among the forum's posts started since the first attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import discord

from bot.announce.components import marker_of
from bot.announce.messages import OutgoingMessage
from bot.rendering import render_inline_text, shorten

if TYPE_CHECKING:
    from discord.types.threads import ThreadArchiveDuration

log = logging.getLogger(__name__)

# Discord: a thread's (or forum post's) name has 1 to 100 characters.
THREAD_NAME_LIMIT: Final = 100
UNTITLED: Final = "Untitled"
# Discord's default: a thread with no new messages is hidden after a day.
DEFAULT_AUTO_ARCHIVE_MINUTES: Final[ThreadArchiveDuration] = 1440
# A thread started from a message has the message's id; asking for a second one is refused.
THREAD_ALREADY_CREATED: Final = 160004
# Looking for a post made before a crash: posts started this long before the first attempt
# count (clocks differ), and at most this many are read.
CLOCK_SKEW_SECONDS: Final = 120.0
POST_SCAN_LIMIT: Final = 50


def thread_name(title: str) -> str:
    """A thread or forum post name from a title or a line of Markdown: plain text on one
    line (math as Unicode, no Markdown), 1 to 100 characters."""
    name = render_inline_text(title, markdown=False)
    return shorten(name, THREAD_NAME_LIMIT) or UNTITLED


@dataclass(frozen=True, slots=True)
class ForumPost:
    """A post in a forum channel: its thread and its first message (the same id on Discord)."""

    thread_id: int
    message_id: int


class ThreadOperations(Protocol):
    """What the outbox sender asks of Discord beyond sending messages."""

    async def thread_of(self, channel_id: int, message_id: int) -> int | None:
        """The thread started from a message, or None (NotFound: no such message)."""
        ...

    async def start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        """Start a public thread from a message; its id (also when it existed already)."""
        ...

    async def create_post(self, forum_id: int, name: str, message: OutgoingMessage) -> ForumPost:
        """Post in a forum channel: a thread named `name` whose first message is `message`."""
        ...

    async def find_post(
        self, forum_id: int, guild_id: int, *, marker: str, since: float
    ) -> ForumPost | None:
        """The bot's post in a forum, started since `since` (Unix time), whose first message
        carries `marker` in its buttons; None when there is none. Forbidden when the bot may
        not read the forum's posts."""
        ...


class DiscordThreads:
    """`ThreadOperations` with discord.py (the bot's HTTP client and cache)."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def thread_of(self, channel_id: int, message_id: int) -> int | None:
        data: Any = await self.client.http.get_message(channel_id, message_id)
        thread = data.get("thread")
        return int(thread["id"]) if thread else None

    async def start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        channel = self.client.get_channel(channel_id)
        archive: ThreadArchiveDuration = getattr(
            channel, "default_auto_archive_duration", DEFAULT_AUTO_ARCHIVE_MINUTES
        )
        try:
            data = await self.client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=archive
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_ALREADY_CREATED:
                return message_id  # it exists, with the message's id
            raise
        return int(data["id"])

    async def create_post(self, forum_id: int, name: str, message: OutgoingMessage) -> ForumPost:
        forum = self.client.get_channel(forum_id) or await self.client.fetch_channel(forum_id)
        if not isinstance(forum, discord.ForumChannel):
            raise NotAForumError(forum_id)
        created = await forum.create_thread(name=name, **message.send_arguments())
        return ForumPost(created.thread.id, created.message.id)

    async def find_post(
        self, forum_id: int, guild_id: int, *, marker: str, since: float
    ) -> ForumPost | None:
        moment = datetime.fromtimestamp(max(since - CLOCK_SKEW_SECONDS, 0), UTC)
        oldest = discord.utils.time_snowflake(moment)
        own_id = self.client.user.id if self.client.user is not None else None
        active: Any = await self.client.http.get_active_threads(guild_id)
        archived: Any = await self.client.http.get_public_archived_threads(
            forum_id, limit=POST_SCAN_LIMIT
        )
        candidates = sorted(
            {
                int(thread["id"])
                for thread in [*active.get("threads", []), *archived.get("threads", [])]
                if int(thread.get("parent_id") or 0) == forum_id
                and int(thread["id"]) >= oldest
                and (own_id is None or int(thread.get("owner_id") or 0) == own_id)
            }
        )
        for thread_id in candidates[:POST_SCAN_LIMIT]:
            try:
                # A post's first message has the post's id.
                first: Any = await self.client.http.get_message(thread_id, thread_id)
            except discord.NotFound:
                continue  # its first message was deleted: not the one looked for
            if marker_of(first.get("components") or []) == marker:
                return ForumPost(thread_id, int(first["id"]))
        return None


class NotAForumError(Exception):
    """A subscription's forum channel is not a forum (any more): nothing can be posted."""

    def __init__(self, channel_id: int) -> None:
        super().__init__(f"channel {channel_id} is not a forum channel")
        self.channel_id = channel_id
