"""The outbox sender: posts pending announcements, oldest first, each exactly once.

Each row is sent with its own nonce (derived from the row; discord.py adds
`enforce_nonce: true`), and marked sent only after Discord returned the message. Just
before its first send, the row records when (`first_attempt_at`): from then on Discord may
have its message although the bot never learned it (a crash, a lost reply). Such a row is
sent again with the same nonce; within Discord's nonce window (`nonce_window`, assumed
shorter than Discord's "few minutes") Discord answers with the message it already created.
After that window Discord would post a second one, so first the channel's messages since
the first attempt are read (Read Message History) for the bot's own message carrying the
row's marker (its nonce, in a button's custom_id): found, the row is marked sent. Without
Read Message History the row is sent again: it may then show twice, never not at all.

Channels are served in parallel, each strictly in order: a row that must wait for a retry
holds back the rows behind it in the same channel. A channel Discord says is gone or
forbidden (404/403) has its subscriptions disabled and its pending rows dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import discord

from bot.announce.components import marker_of
from bot.announce.messages import (
    COMMUNITY_SOURCE,
    OutgoingMessage,
    notice_message,
    overflow_message,
    summary_embed,
    summary_message,
)
from bot.pacing import RequestSpacer, backoff_delay
from bot.storage.database import Database, DatabaseUnavailableError
from bot.storage.feeds import CommunityAnnounceRepository, FeedRepository, SubscriptionRepository
from bot.storage.outbox import AnnouncedSummary, OutboxMessage, OutboxRepository

log = logging.getLogger(__name__)

# Retries of a row after a transient failure: 2 s doubling, capped at 5 minutes.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0
# A row that keeps failing for reasons other than Discord's answer (a bug) is dropped after
# this many tries instead of blocking its channel forever.
MAX_ATTEMPTS = 25
# Discord allows a bot 50 requests per second in all; announcements leave room for the rest.
DEFAULT_SENDS_PER_SECOND = 45.0
DEFAULT_CHANNEL_CONCURRENCY = 8
# Sent rows are kept this long (far beyond Discord's nonce window), then pruned.
KEEP_SENT_SECONDS = 7 * 24 * 3600.0
# How long Discord is assumed to remember a nonce ("a few minutes"; shorter is safer: a
# longer guess would resend without looking first). `DISCORD_NONCE_WINDOW_SECONDS`.
DEFAULT_NONCE_WINDOW_SECONDS = 60.0
# Looking for a row's message starts this long before its first attempt (the bot's clock and
# Discord's may differ) and reads at most this many messages from there.
CLOCK_SKEW_SECONDS = 120.0
HISTORY_SCAN_LIMIT = 200


# In the bot, `bot.get_partial_messageable`; tests pass stand-ins with the same `send`.
ChannelResolver = Callable[[int, int], discord.abc.Messageable]


@dataclass(frozen=True, slots=True)
class CardKey:
    """What an announcement card depends on; a card is rendered once per drain per key."""

    summary_id: int
    edited_at: float
    score: int
    source_name: str


@dataclass(slots=True)
class DrainReport:
    """What one drain did (for tests and logs)."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    # Rows whose message was found in the channel (posted before a crash) and marked sent.
    found: int = 0
    disabled_channels: set[int] = field(default_factory=set)


class OutboxSender:
    """Drains the outbox. `channel_for(channel_id, guild_id)` gives something to send to
    (in the bot, `bot.get_partial_messageable`, which needs no cache); `own_user_id()` is
    the bot's user id (whose messages in a channel may be a row's)."""

    def __init__(
        self,
        db: Database,
        channel_for: ChannelResolver,
        *,
        own_user_id: Callable[[], int | None] = lambda: None,
        nonce_window: float = DEFAULT_NONCE_WINDOW_SECONDS,
        sends_per_second: float = DEFAULT_SENDS_PER_SECOND,
        channel_concurrency: int = DEFAULT_CHANNEL_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.channel_for = channel_for
        self.own_user_id = own_user_id
        self.nonce_window = nonce_window
        self.clock = clock
        self.rng = rng or random.Random()
        self.outbox = OutboxRepository(db)
        self.feeds = FeedRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.community = CommunityAnnounceRepository(db)
        self.limiter = RequestSpacer.per_second(sends_per_second)
        self._channel_slots = asyncio.Semaphore(channel_concurrency)
        self._drain_lock = asyncio.Lock()
        # Announcement cards rendered during the current drain, shared by every channel of
        # a fan-out (see `_card`).
        self._cards: dict[CardKey, asyncio.Future[discord.Embed]] = {}
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something was enqueued: drain soon."""
        self._wake.set()

    async def wait_for_work(self, idle_seconds: float) -> None:
        """Sleep until notified, until the next retry is due, or `idle_seconds` pass (rows
        enqueued by other processes or code paths that did not notify)."""
        timeout = idle_seconds
        next_at = await self.outbox.next_attempt_at(after=self.clock())
        if next_at is not None:
            timeout = min(timeout, max(next_at - self.clock(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def run_once(self, idle_seconds: float) -> DrainReport:
        """One turn of the sender loop: drain, then wait for more work."""
        self._wake.clear()
        report = await self.drain()
        await self.wait_for_work(idle_seconds)
        return report

    async def drain(self) -> DrainReport:
        """Send every row that is due, channel by channel in order, until none is left."""
        report = DrainReport()
        async with self._drain_lock:
            try:
                await self._drain_all(report)
            finally:
                # The next drain renders afresh: a summary may be edited in between.
                self._cards.clear()
        return report

    async def _drain_all(self, report: DrainReport) -> None:
        while True:
            rows = await self.outbox.sendable(self.clock())
            rows = [row for row in rows if row.channel_id not in report.disabled_channels]
            if not rows:
                return
            by_channel: dict[int, list[OutboxMessage]] = {}
            for row in rows:
                by_channel.setdefault(row.channel_id, []).append(row)
            await asyncio.gather(
                *(self._drain_channel(channel_rows, report) for channel_rows in by_channel.values())
            )

    async def _drain_channel(self, rows: list[OutboxMessage], report: DrainReport) -> None:
        async with self._channel_slots:
            for row in rows:
                if not await self._deliver(row, report):
                    # Keep the channel's order: what follows waits for this row's retry.
                    return

    async def _deliver(self, row: OutboxMessage, report: DrainReport) -> bool:
        """Send one row. Returns False when the rest of its channel must wait."""
        try:
            channel = self.channel_for(row.channel_id, row.guild_id)
            if self._nonce_may_be_forgotten(row):
                earlier = await self._find_posted(channel, row)
                if earlier is not None:
                    log.info("Outbox row %d was posted before (message %d)", row.id, earlier.id)
                    await self.outbox.mark_sent(row.id, message_id=earlier.id, now=self.clock())
                    report.found += 1
                    return True
            message = await self._build(row)
            if message is None:
                await self.outbox.drop(row.id, "the summary no longer exists")
                report.dropped += 1
                return True
            await self.limiter.wait_turn()
            if row.first_attempt_at is None:
                await self.outbox.mark_attempting(row.id, now=self.clock())
            sent = await channel.send(**message.send_arguments(), nonce=row.nonce)
        except (discord.NotFound, discord.Forbidden) as exc:
            await self._disable_channel(row, exc)
            report.disabled_channels.add(row.channel_id)
            report.dropped += 1
            return False
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500:
                await self._retry(row, f"Discord answered {exc.status}: {exc.text}")
                report.retried += 1
                return False
            # 400 and friends: Discord will never take this message; say so and move on.
            log.error("Discord refused outbox row %d (%s): %s", row.id, row.kind, exc)
            await self.outbox.drop(row.id, f"Discord refused it ({exc.status}: {exc.text})")
            report.dropped += 1
            return True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._retry(row, f"network error: {type(exc).__name__}: {exc}")
            report.retried += 1
            return False
        except DatabaseUnavailableError:
            # An outage, not this row's fault: the loop backs off and the row is sent (or
            # found in the channel) once the database is back.
            raise
        except Exception as exc:
            log.exception("Could not send outbox row %d", row.id)
            if row.attempts + 1 >= MAX_ATTEMPTS:
                await self.outbox.drop(row.id, f"internal error ({type(exc).__name__})")
                report.dropped += 1
                return True
            await self._retry(row, f"internal error ({type(exc).__name__})")
            report.retried += 1
            return False
        await self.outbox.mark_sent(row.id, message_id=sent.id, now=self.clock())
        report.sent += 1
        return True

    def _nonce_may_be_forgotten(self, row: OutboxMessage) -> bool:
        """Whether Discord may have this row's message but no longer its nonce."""
        return (
            row.first_attempt_at is not None
            and self.clock() - row.first_attempt_at > self.nonce_window
        )

    async def _find_posted(
        self, channel: discord.abc.Messageable, row: OutboxMessage
    ) -> discord.Message | None:
        """The bot's own message for `row` among the channel's messages since its first
        attempt, found by the marker in its buttons; None when there is none, or when the
        bot may not read the channel's history (then the row is sent again)."""
        assert row.first_attempt_at is not None
        own_id = self.own_user_id()
        since = datetime.fromtimestamp(max(row.first_attempt_at - CLOCK_SKEW_SECONDS, 0), UTC)
        await self.limiter.wait_turn()
        try:
            async for message in channel.history(
                limit=HISTORY_SCAN_LIMIT,
                after=discord.Object(id=discord.utils.time_snowflake(since)),
                oldest_first=True,
            ):
                if message.author.id == own_id and marker_of(message.components) == row.nonce:
                    return message
        except discord.Forbidden:
            log.warning(
                "Cannot read the history of channel %d (Read Message History?): outbox row %d "
                "may have been posted before the bot stopped, and is sent again",
                row.channel_id,
                row.id,
            )
        return None

    async def _build(self, row: OutboxMessage) -> OutgoingMessage | None:
        """The message of a row; its buttons carry the row's nonce as its marker."""
        if row.kind == "overflow":
            return overflow_message(row.text or "", marker=row.nonce)
        if row.kind == "notice":
            return notice_message(
                row.text or "", subscription_id=row.subscription_id, marker=row.nonce
            )
        assert row.summary_id is not None
        summary = await self.outbox.announced_summary(row.summary_id)
        if summary is None:
            return None
        source_name = await self._source_name(row, summary.origin)
        return summary_message(
            summary,
            source_name=source_name,
            mention_role_id=row.mention_role_id,
            marker=row.nonce,
            headline=row.text,
            embed=await self._card(summary, source_name),
        )

    async def _card(self, summary: AnnouncedSummary, source_name: str) -> discord.Embed:
        """The summary's card, rendered once per drain for all the channels of a fan-out,
        in a worker thread (a long summary takes tens of milliseconds to render)."""
        key = CardKey(summary.summary_id, summary.edited_at, summary.score, source_name)
        rendering = self._cards.get(key)
        if rendering is None:
            rendering = asyncio.ensure_future(
                asyncio.to_thread(summary_embed, summary, source_name=source_name)
            )
            self._cards[key] = rendering
        # Shielded: one channel's task being cancelled must not cancel the others' card.
        return (await asyncio.shield(rendering)).copy()

    async def _source_name(self, row: OutboxMessage, origin: str) -> str:
        if row.feed_id is not None:
            feed = await self.feeds.get(row.feed_id)
            if feed is not None:
                return feed.display_name
        return COMMUNITY_SOURCE if origin == "community" else "New summary"

    async def _retry(self, row: OutboxMessage, error: str) -> None:
        delay = backoff_delay(
            row.attempts + 1,
            base_seconds=RETRY_BASE_SECONDS,
            cap_seconds=RETRY_CAP_SECONDS,
            rng=self.rng,
        )
        log.info("Outbox row %d will be retried in %.0f s: %s", row.id, delay, error)
        await self.outbox.schedule_retry(row.id, error, next_attempt_at=self.clock() + delay)

    async def _disable_channel(self, row: OutboxMessage, exc: discord.HTTPException) -> None:
        what = "gone" if isinstance(exc, discord.NotFound) else "forbidden"
        reason = f"Discord says the channel is {what} ({exc.status}, code {exc.code})"
        async with self.db.transaction() as conn:
            await self.subscriptions.disable_channel(row.channel_id, reason, conn=conn)
            await self.community.disable_channel(row.channel_id, reason, conn=conn)
            dropped = await self.outbox.drop_pending_for_channel(row.channel_id, reason, conn=conn)
        log.warning(
            "Channel %d of guild %d: %s; its subscriptions are disabled and %d pending "
            "announcements dropped",
            row.channel_id,
            row.guild_id,
            reason,
            dropped,
        )

    async def prune(self) -> int:
        """Forget rows delivered (or dropped) more than KEEP_SENT_SECONDS ago (a loop of the
        feeds cog runs this hourly). Returns how many."""
        return await self.outbox.prune_sent(older_than=self.clock() - KEEP_SENT_SECONDS)
