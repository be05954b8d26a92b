"""The outbox sender: posts pending announcements, oldest first, each exactly once.

Each row is sent with its own nonce (discord.py adds `enforce_nonce: true`), and marked sent
only after Discord returned the message. If the bot dies between the two, the row is sent
again after restart with the same nonce, and Discord answers with the message it already
created instead of posting a second one.

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

import aiohttp
import discord

from bot.announce.messages import OutgoingMessage, summary_message, text_message
from bot.pacing import RequestSpacer, backoff_delay
from bot.storage.database import Database
from bot.storage.feeds import CommunityAnnounceRepository, FeedRepository, SubscriptionRepository
from bot.storage.outbox import OutboxMessage, OutboxRepository

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


# In the bot, `bot.get_partial_messageable`; tests pass stand-ins with the same `send`.
ChannelResolver = Callable[[int, int], discord.abc.Messageable]


@dataclass(slots=True)
class DrainReport:
    """What one drain did (for tests and logs)."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    disabled_channels: set[int] = field(default_factory=set)


class OutboxSender:
    """Drains the outbox. `channel_for(channel_id, guild_id)` gives something to send to
    (in the bot, `bot.get_partial_messageable`, which needs no cache)."""

    def __init__(
        self,
        db: Database,
        channel_for: ChannelResolver,
        *,
        sends_per_second: float = DEFAULT_SENDS_PER_SECOND,
        channel_concurrency: int = DEFAULT_CHANNEL_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.channel_for = channel_for
        self.clock = clock
        self.rng = rng or random.Random()
        self.outbox = OutboxRepository(db)
        self.feeds = FeedRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.community = CommunityAnnounceRepository(db)
        self.limiter = RequestSpacer.per_second(sends_per_second)
        self._channel_slots = asyncio.Semaphore(channel_concurrency)
        self._drain_lock = asyncio.Lock()
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
            while True:
                rows = await self.outbox.sendable(self.clock())
                rows = [row for row in rows if row.channel_id not in report.disabled_channels]
                if not rows:
                    break
                by_channel: dict[int, list[OutboxMessage]] = {}
                for row in rows:
                    by_channel.setdefault(row.channel_id, []).append(row)
                await asyncio.gather(
                    *(
                        self._drain_channel(channel_rows, report)
                        for channel_rows in by_channel.values()
                    )
                )
        return report

    async def _drain_channel(self, rows: list[OutboxMessage], report: DrainReport) -> None:
        async with self._channel_slots:
            for row in rows:
                if not await self._deliver(row, report):
                    # Keep the channel's order: what follows waits for this row's retry.
                    return

    async def _deliver(self, row: OutboxMessage, report: DrainReport) -> bool:
        """Send one row. Returns False when the rest of its channel must wait."""
        try:
            message = await self._build(row)
            if message is None:
                await self.outbox.drop(row.id, "the summary no longer exists")
                report.dropped += 1
                return True
            await self.limiter.wait_turn()
            channel = self.channel_for(row.channel_id, row.guild_id)
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

    async def _build(self, row: OutboxMessage) -> OutgoingMessage | None:
        if row.kind != "summary":
            return text_message(row.text or "")
        assert row.summary_id is not None
        summary = await self.outbox.announced_summary(row.summary_id)
        if summary is None:
            return None
        return summary_message(
            summary,
            source_name=await self._source_name(row, summary.origin),
            mention_role_id=row.mention_role_id,
        )

    async def _source_name(self, row: OutboxMessage, origin: str) -> str:
        if row.feed_id is not None:
            feed = await self.feeds.get(row.feed_id)
            if feed is not None:
                return feed.display_name
        return "New community summary" if origin == "community" else "New summary"

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
