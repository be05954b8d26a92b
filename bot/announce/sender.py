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

Threads and forum posts, exactly once too. A 'thread' row's message is sent as above and
recorded (`message_id`, the row still pending); then its thread is asked for, having first
recorded `thread_attempt_at`; a retry after that reads the message first and takes the
thread it has (Discord also refuses a second thread on one message). A 'forum' row is a post
(a thread with its first message, no nonce): once `first_attempt_at` is set, a retry first
looks among the forum's recent posts for the one whose first message carries the row's
marker. A thread Discord will not make (no Create Public Threads, the message deleted) never
holds the announcement back: the row is marked sent with a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
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
from bot.announce.threads import ThreadOperations, thread_name
from bot.pacing import RequestSpacer, backoff_delay
from bot.storage.database import Database, DatabaseUnavailableError
from bot.storage.feeds import CommunityAnnounceRepository, FeedRepository, SubscriptionRepository
from bot.storage.leases import DEFAULT_LEASE_SECONDS, LeaseLostError, new_owner_id
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
# Rows claimed at once at most (whole channels; see `OutboxRepository.claim_sendable`), and
# the seconds of sending a claim is sized for.
CLAIM_ROWS = 500
CLAIM_SECONDS = 2.0
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
    # Discussion threads started under announcements ('thread' rows).
    threads: int = 0
    disabled_channels: set[int] = field(default_factory=set)


def _transient(exc: discord.HTTPException) -> bool:
    """Whether Discord's refusal may pass: a rate limit or an outage."""
    return exc.status == 429 or exc.status >= 500


@dataclass(frozen=True, slots=True)
class _Posted:
    """A row's message on Discord (and its forum post); `found` when it was posted by an
    earlier attempt and found instead of being sent."""

    message_id: int
    thread_id: int | None = None
    found: bool = False


@dataclass(frozen=True, slots=True)
class _Built:
    """A row's message, and the name a forum post or thread made for it takes."""

    message: OutgoingMessage
    title: str


class OutboxSender:
    """Drains the outbox. `channel_for(channel_id, guild_id)` gives something to send to
    (in the bot, `bot.get_partial_messageable`, which needs no cache); `own_user_id()` is
    the bot's user id (whose messages in a channel may be a row's); `threads` starts the
    threads and forum posts of 'thread' and 'forum' rows (`bot.announce.threads`)."""

    def __init__(
        self,
        db: Database,
        channel_for: ChannelResolver,
        *,
        own_user_id: Callable[[], int | None] = lambda: None,
        threads: ThreadOperations | None = None,
        nonce_window: float = DEFAULT_NONCE_WINDOW_SECONDS,
        sends_per_second: float = DEFAULT_SENDS_PER_SECOND,
        channel_concurrency: int = DEFAULT_CHANNEL_CONCURRENCY,
        on_drained: Callable[[DrainReport], None] = lambda report: None,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.channel_for = channel_for
        # Rows are sent under leases (bot.storage.leases): of the processes sharing the
        # database, one sends a channel's rows; `owner` is this process's id.
        self.owner = owner or new_owner_id()
        self.lease_seconds = lease_seconds
        # Rows claimed at once: what this process sends in a couple of seconds at its pace
        # (a third of a lease at most, so the last is sent well before its lease would
        # expire): a backlog is shared out between the processes in small turns.
        claim_seconds = min(CLAIM_SECONDS, lease_seconds / 3)
        self.claim_rows = max(1, min(CLAIM_ROWS, int(sends_per_second * claim_seconds)))
        self.own_user_id = own_user_id
        self.threads = threads
        self.nonce_window = nonce_window
        # Told what each drain did (the bot's metrics).
        self.on_drained = on_drained
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
                self.on_drained(report)
        return report

    async def _drain_all(self, report: DrainReport) -> None:
        while True:
            rows = await self.outbox.claim_sendable(
                self.owner,
                now=self.clock(),
                lease_seconds=self.lease_seconds,
                limit=self.claim_rows,
            )
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
                    # Keep the channel's order: what follows waits for this row's retry,
                    # by whichever process claims the channel then.
                    await self.outbox.release_channel(self.owner, row.channel_id)
                    return

    async def release(self) -> None:
        """Free this process's claims on the outbox (it is stopping): the other processes
        take its channels over at once instead of when the leases expire."""
        try:
            await self.outbox.release_all(self.owner)
        except DatabaseUnavailableError as exc:
            log.warning("Could not free this process's outbox leases (%s); they expire", exc)

    async def _deliver(self, row: OutboxMessage, report: DrainReport) -> bool:
        """Send one row (its message, or its forum post). Returns False when the rest of its
        channel must wait. A 'thread' row then gets its thread (`_open_thread`)."""
        try:
            if row.delivery == "forum":
                posted = await self._post_in_forum(row)
            elif row.message_id is not None:
                # Sent before; only its thread is missing.
                posted = _Posted(row.message_id)
            else:
                posted = await self._send(row)
            if posted is None:
                await self.outbox.drop(row.id, "the summary no longer exists")
                report.dropped += 1
                return True
        except (discord.NotFound, discord.Forbidden) as exc:
            await self._disable_channel(row, exc)
            report.disabled_channels.add(row.channel_id)
            report.dropped += 1
            return False
        except discord.HTTPException as exc:
            if _transient(exc):
                return await self._failed(row, exc, report)
            # 400 and friends: Discord will never take this message; say so and move on.
            log.error("Discord refused outbox row %d (%s): %s", row.id, row.kind, exc)
            await self.outbox.drop(row.id, f"Discord refused it ({exc.status}: {exc.text})")
            report.dropped += 1
            return True
        except DatabaseUnavailableError:
            # An outage, not this row's fault: the loop backs off and the row is sent (or
            # found in the channel) once the database is back.
            raise
        except LeaseLostError as exc:
            # Another process took the channel over (this one stalled past the lease): it
            # sends the row and the rest of the channel.
            log.warning("Outbox row %d not sent here: %s", row.id, exc)
            return False
        except Exception as exc:
            return await self._failed(row, exc, report)
        if posted.found:
            report.found += 1
        if row.delivery == "thread" and row.kind == "summary":
            if row.message_id is None:
                # From now on a retry goes on from the thread, never sends again.
                await self.outbox.mark_posted(row.id, message_id=posted.message_id)
            return await self._open_thread(row, posted.message_id, report)
        await self.outbox.mark_sent(
            row.id, message_id=posted.message_id, thread_id=posted.thread_id, now=self.clock()
        )
        if not posted.found:
            report.sent += 1
        return True

    async def _send(self, row: OutboxMessage) -> _Posted | None:
        """The row's message in its channel: found there when Discord may have it but no
        longer its nonce, else sent (again, with the same nonce). None: nothing to send."""
        channel = self.channel_for(row.channel_id, row.guild_id)
        if self._nonce_may_be_forgotten(row):
            earlier = await self._find_posted(channel, row)
            if earlier is not None:
                log.info("Outbox row %d was posted before (message %d)", row.id, earlier.id)
                return _Posted(earlier.id, found=True)
        built = await self._ready_to_send(row)
        if built is None:
            return None
        sent = await channel.send(**built.message.send_arguments(), nonce=row.nonce)
        return _Posted(sent.id)

    async def _ready_to_send(self, row: OutboxMessage) -> _Built | None:
        """The row's message, once it is the row's turn to go out, and recorded (before its
        first send) as one Discord may have from now on. None: nothing to send."""
        built = await self._build(row)
        if built is None:
            return None
        await self.limiter.wait_turn()
        await self._begin_attempt(row)
        return built

    async def _begin_attempt(self, row: OutboxMessage) -> None:
        """Just before a send: check the row is still this process's to send (raises
        `LeaseLostError`), extend its lease and record its first attempt."""
        if not await self.outbox.begin_attempt(
            row.id, self.owner, now=self.clock(), lease_seconds=self.lease_seconds
        ):
            raise LeaseLostError(f"its channel's lease is no longer {self.owner}'s")

    async def _post_in_forum(self, row: OutboxMessage) -> _Posted | None:
        """The row's post in its forum channel: a thread titled with the paper (or the line),
        the announcement as its first message. A post takes no nonce, so once Discord may
        have it, the post carrying the row's marker is looked for before asking again."""
        threads = self._thread_operations()
        if row.first_attempt_at is not None:
            await self.limiter.wait_turn()
            try:
                earlier = await threads.find_post(
                    row.channel_id, row.guild_id, marker=row.nonce, since=row.first_attempt_at
                )
            except discord.Forbidden:
                earlier = None
                log.warning(
                    "Cannot read the posts of forum %d (Read Message History?): outbox row %d "
                    "may have been posted before the bot stopped, and is posted again",
                    row.channel_id,
                    row.id,
                )
            if earlier is not None:
                log.info("Outbox row %d was posted before (post %d)", row.id, earlier.thread_id)
                return _Posted(earlier.message_id, earlier.thread_id, found=True)
        built = await self._ready_to_send(row)
        if built is None:
            return None
        post = await threads.create_post(row.channel_id, built.title, built.message)
        return _Posted(post.message_id, post.thread_id)

    async def _open_thread(self, row: OutboxMessage, message_id: int, report: DrainReport) -> bool:
        """Start the discussion thread under a 'thread' row's message, once: when an earlier
        attempt may have made it, the message is read first (its `thread`). The message is
        delivered whatever happens here: a thread Discord will not make is noted on the row
        and logged, never a reason to post again. Returns False when the rest of the channel
        must wait (a retry)."""
        threads = self._thread_operations()
        try:
            thread_id = None
            if row.thread_attempt_at is not None:
                thread_id = await self._existing_thread(row, message_id)
            if thread_id is None:
                summary = await self.outbox.announced_summary(row.summary_id or 0)
                if summary is None:
                    reason = "the summary no longer exists"
                    await self._mark_sent_without_thread(row, message_id, reason, report)
                    return True
                name = thread_name(summary.title)
                await self.limiter.wait_turn()
                if row.thread_attempt_at is None:
                    await self.outbox.mark_thread_attempting(row.id, now=self.clock())
                thread_id = await threads.start_thread(row.channel_id, message_id, name)
        except Exception as exc:
            if isinstance(exc, discord.HTTPException) and not _transient(exc):
                # Gone (the announcement was deleted), forbidden (no Create Public Threads)
                # or refused: the announcement stands without its thread.
                note = f"Discord answered {exc.status} ({exc.text})"
                log.warning(
                    "Outbox row %d: message %d sent, no thread: %s", row.id, message_id, note
                )
                await self._mark_sent_without_thread(row, message_id, note, report)
                return True

            async def without_thread(reason: str) -> None:
                await self._mark_sent_without_thread(row, message_id, reason, report)

            return await self._failed(row, exc, report, step="its thread", give_up=without_thread)
        await self.outbox.mark_sent(
            row.id, message_id=message_id, thread_id=thread_id, now=self.clock()
        )
        report.sent += 1
        report.threads += 1
        return True

    async def _existing_thread(self, row: OutboxMessage, message_id: int) -> int | None:
        """The thread an earlier attempt may have started from the row's message (read from
        the message). Without Read Message History, None: asking again is safe, since
        Discord refuses a second thread on one message (and that refusal names it)."""
        await self.limiter.wait_turn()
        try:
            return await self._thread_operations().thread_of(row.channel_id, message_id)
        except discord.Forbidden:
            return None

    async def _mark_sent_without_thread(
        self, row: OutboxMessage, message_id: int, reason: str, report: DrainReport
    ) -> None:
        note = f"no thread: {reason}"
        await self.outbox.mark_sent(row.id, message_id=message_id, now=self.clock(), note=note)
        report.sent += 1

    async def _failed(
        self,
        row: OutboxMessage,
        exc: Exception,
        report: DrainReport,
        *,
        step: str = "",
        give_up: Callable[[str], Awaitable[None]] | None = None,
    ) -> bool:
        """After a failure that may pass (a rate limit, an outage, the network, a bug in the
        bot) in sending the row (or a later `step` of it, such as its thread): retry the row
        later, holding its channel back (False). A bug that failed the row MAX_ATTEMPTS
        times gives up instead (True): `give_up(reason)`, else the row is dropped."""
        if isinstance(exc, discord.HTTPException):
            error = f"Discord answered {exc.status}: {exc.text}"
        elif isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
            error = f"network error: {type(exc).__name__}: {exc}"
        else:
            log.exception("Could not send outbox row %d %s", row.id, step)
            error = f"internal error ({type(exc).__name__})"
            if row.attempts + 1 >= MAX_ATTEMPTS:
                if give_up is not None:
                    await give_up(error)
                else:
                    await self.outbox.drop(row.id, error)
                    report.dropped += 1
                return True
        await self._retry(row, f"{step}: {error}" if step else error)
        report.retried += 1
        return False

    def _thread_operations(self) -> ThreadOperations:
        if self.threads is None:
            raise RuntimeError("this sender was given no thread operations")
        return self.threads

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

    async def _build(self, row: OutboxMessage) -> _Built | None:
        """The message of a row, and the title of a post or thread made for it; its buttons
        carry the row's nonce as its marker."""
        if row.kind == "overflow":
            text = row.text or ""
            return _Built(overflow_message(text, marker=row.nonce), thread_name(text))
        if row.kind == "notice":
            message = notice_message(
                row.text or "", subscription_id=row.subscription_id, marker=row.nonce
            )
            feed = await self.feeds.get(row.feed_id) if row.feed_id is not None else None
            name = feed.display_name if feed is not None else "a feed"
            return _Built(message, thread_name(f"⚠️ Feed paused: {name}"))
        assert row.summary_id is not None
        summary = await self.outbox.announced_summary(row.summary_id)
        if summary is None:
            return None
        source_name = await self._source_name(row, summary.origin)
        message = summary_message(
            summary,
            source_name=source_name,
            mention_role_id=row.mention_role_id,
            marker=row.nonce,
            headline=row.text,
            embed=await self._card(summary, source_name),
        )
        return _Built(message, thread_name(summary.title))

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
