"""The announcement outbox: messages to post, written in the transaction that decided them.

A row is `pending` until Discord accepted the message (then `sent`, with its message id) or
until it can never be delivered (`dropped`, with the reason). Each row has its own nonce,
derived from the row: "so" + this database's salt (10 hex digits, made once by migration
0010) + the row id in base 36, at most 25 characters. It is sent with `enforce_nonce`, so
sending a row again within Discord's nonce window returns the message Discord already
created instead of posting a second one; the sender also puts it in the message's buttons,
to find the message in the channel's history after that window (see `bot.announce.sender`).
Row ids are never reused, so neither are nonces. `first_attempt_at` is set just before a
row is first sent: from then on Discord may have its message.

A row's `delivery` (migration 0014) says what sending it makes: a message ('message'); a
message and then a discussion thread started from it ('thread': the row stays pending with
its `message_id` until the thread exists, `thread_attempt_at` being set just before the
thread is first asked for); or a post in a forum channel ('forum': the thread and its first
message at once). `thread_id` is the thread or post once it exists.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

from bot.storage.database import Connection, Database, Row
from bot.storage.feeds import Delivery

OutboxKind = Literal["summary", "overflow", "notice"]

# Discord accepts nonces of at most 25 characters: 2 + 10 (salt) + 13 (base 36 of 2**63).
NONCE_PREFIX = "so"
NONCE_LIMIT = 25
NONCE_SALT_KEY = "outbox_nonce_salt"
_BASE36 = string.digits + string.ascii_lowercase


def base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
        if number == 0:
            return digits


def derived_nonce(salt: str, row_id: int) -> str:
    """The nonce of outbox row `row_id` in the database whose salt is `salt`."""
    return NONCE_PREFIX + salt + base36(row_id)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    nonce: str
    kind: OutboxKind
    guild_id: int
    channel_id: int
    subscription_id: int | None
    feed_id: int | None
    summary_id: int | None
    mention_role_id: int | None
    text: str | None
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    message_id: int | None
    created_at: float
    sent_at: float | None
    first_attempt_at: float | None
    delivery: Delivery
    thread_id: int | None
    thread_attempt_at: float | None

    @classmethod
    def from_row(cls, row: Row, *, salt: str) -> OutboxMessage:
        values = {field.name: row[field.name] for field in fields(cls)}
        if values["nonce"] is None:
            values["nonce"] = derived_nonce(salt, int(values["id"]))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AnnouncedSummary:
    """What an announcement shows of a summary and its paper."""

    summary_id: int
    origin: str
    guild_id: int | None
    author_name: str
    summary_title: str
    tldr: str
    body: str
    url: str | None
    score: int
    created_at: float
    paper_title: str | None
    paper_authors: str | None
    venue: str | None
    year: int | None
    paper_url: str | None
    edited_at: float = 0.0
    votes_up: int = 0
    votes_down: int = 0
    kind: str = "summary"  # 'abstract': the entry is the paper itself (migration 0013)

    @property
    def title(self) -> str:
        return self.paper_title or self.summary_title or "Untitled"

    @property
    def is_abstract(self) -> bool:
        return self.kind == "abstract"


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Announcements still waiting to be delivered."""

    pending: int
    oldest_created_at: float | None  # when the oldest of them was queued

    def oldest_age(self, now: float) -> float | None:
        return None if self.oldest_created_at is None else max(now - self.oldest_created_at, 0)


@dataclass(frozen=True, slots=True)
class NewOutboxMessage:
    """One message to add to the outbox (`enqueue_many`); its nonce comes from its id."""

    kind: OutboxKind
    guild_id: int
    channel_id: int
    subscription_id: int | None = None
    feed_id: int | None = None
    summary_id: int | None = None
    mention_role_id: int | None = None
    text: str | None = None
    delivery: Delivery = "message"


_INSERT_OUTBOX_ROW = (
    "INSERT INTO announcement_outbox (kind, guild_id, channel_id, "
    "subscription_id, feed_id, summary_id, mention_role_id, text, created_at, delivery) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._salt: str | None = None

    async def nonce_salt(self) -> str:
        """This database's nonce salt (made once, by migration 0010)."""
        if self._salt is None:
            value = await self.db.fetchval(
                "SELECT value FROM bot_state WHERE key = ?", (NONCE_SALT_KEY,)
            )
            if value is None:
                raise RuntimeError("the database has no outbox nonce salt: migrate it first")
            self._salt = str(value)
        return self._salt

    async def _messages(self, rows: Iterable[Row]) -> list[OutboxMessage]:
        salt = await self.nonce_salt()
        return [OutboxMessage.from_row(row, salt=salt) for row in rows]

    async def enqueue(
        self,
        *,
        kind: OutboxKind,
        guild_id: int,
        channel_id: int,
        now: float,
        subscription_id: int | None = None,
        feed_id: int | None = None,
        summary_id: int | None = None,
        mention_role_id: int | None = None,
        text: str | None = None,
        delivery: Delivery = "message",
        conn: Connection | None = None,
    ) -> int:
        """Add one message to send; pass `conn` to make it part of the caller's transaction."""
        async with self.db.writing(conn) as c:
            row_id = await c.fetchval(
                _INSERT_OUTBOX_ROW + " RETURNING id",
                (
                    kind,
                    guild_id,
                    channel_id,
                    subscription_id,
                    feed_id,
                    summary_id,
                    mention_role_id,
                    text,
                    now,
                    delivery,
                ),
            )
            return int(row_id)

    async def enqueue_summary_posts(
        self,
        *,
        summary_id: int,
        guild_id: int,
        written_in: int | None,
        announce: bool,
        text: str | None,
        now: float,
        conn: Connection | None = None,
    ) -> int:
        """Queue a community summary's card in `written_in` (None: nowhere) and, when
        `announce`, in the guild's `/announce` channel unless that is disabled or the same
        channel; in that order. Returns how many messages were queued.

        One statement reading the announce channel as it inserts: a summary is published in
        one round trip fewer (each one counts with a database server)."""
        async with self.db.writing(conn) as c:
            return await c.execute(
                "INSERT INTO announcement_outbox (kind, guild_id, channel_id, summary_id, "
                "text, created_at, delivery) "
                "SELECT 'summary', ?, target.channel_id, ?, ?, ?, 'message' FROM ("
                "  SELECT 0 AS place, CAST(? AS BIGINT) AS channel_id"
                "  UNION ALL"
                "  SELECT 1, channel_id FROM community_announce_channels"
                "  WHERE guild_id = ? AND disabled_reason IS NULL AND ? = 1"
                ") AS target "
                "WHERE target.channel_id IS NOT NULL AND (target.place = 0 "
                "OR CAST(? AS BIGINT) IS NULL OR target.channel_id <> CAST(? AS BIGINT)) "
                "ORDER BY target.place",
                (
                    guild_id,
                    summary_id,
                    text,
                    now,
                    written_in,
                    guild_id,
                    int(announce),
                    written_in,
                    written_in,
                ),
            )

    async def enqueue_many(
        self,
        rows: Sequence[NewOutboxMessage],
        *,
        now: float,
        conn: Connection | None = None,
    ) -> int:
        """Add several messages in one statement (one hand-off to the database thread), in
        order; pass `conn` to make them part of the caller's transaction. Returns how many."""
        if not rows:
            return 0
        params = [
            (
                row.kind,
                row.guild_id,
                row.channel_id,
                row.subscription_id,
                row.feed_id,
                row.summary_id,
                row.mention_role_id,
                row.text,
                now,
                row.delivery,
            )
            for row in rows
        ]
        async with self.db.writing(conn) as c:
            await c.executemany(_INSERT_OUTBOX_ROW, params)
        return len(params)

    async def get(self, message_id: int) -> OutboxMessage | None:
        row = await self.db.fetchone(
            "SELECT * FROM announcement_outbox WHERE id = ?", (message_id,)
        )
        return None if row is None else (await self._messages([row]))[0]

    # --- leases: which process sends a channel's rows (bot.storage.leases) ------------------

    async def claim_sendable(
        self, owner: str, *, now: float, lease_seconds: float, limit: int = 500
    ) -> list[OutboxMessage]:
        """Claim, for `owner` until `now + lease_seconds`, the pending rows of the channels
        whose oldest pending row may be sent now, oldest channel first, and return the rows
        that may be sent now, in order (the caller sends each channel's rows in turn).

        A channel's pending rows are claimed together: one process sends a channel's rows,
        so they keep their order across processes. A channel is passed over when another
        process holds an unexpired lease on any of its pending rows, or (PostgreSQL) while
        another transaction holds one of its rows: the rows are locked with SKIP LOCKED and
        a channel is claimed only when every pending row of it was locked here, so two
        processes claiming at once never both get a channel, and neither waits. Whole
        channels are claimed until `limit` rows are (at least one channel).
        """
        dialect = self.db.dialect
        async with self.db.transaction() as conn:
            firsts = await conn.fetchall(
                "SELECT o.channel_id FROM announcement_outbox AS o "
                "WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS ("
                "  SELECT 1 FROM announcement_outbox AS e WHERE e.channel_id = o.channel_id "
                "  AND e.state = 'pending' AND e.id < o.id) "
                "AND NOT EXISTS ("
                "  SELECT 1 FROM announcement_outbox AS e WHERE e.channel_id = o.channel_id "
                "  AND e.state = 'pending' AND e.lease_owner <> ? AND e.lease_expires_at > ?) "
                "ORDER BY o.id LIMIT ?",
                (now, owner, now, limit),
            )
            channels = [int(row[0]) for row in firsts]
            if not channels:
                return []
            channel_list = dialect.list_param(channels)
            locked = await conn.fetchall(
                "SELECT id, channel_id FROM announcement_outbox "
                "WHERE state = 'pending' AND " + dialect.in_list("channel_id") + " "
                "ORDER BY id" + dialect.skip_locked,
                (channel_list,),
            )
            # Read after locking (a new snapshot on PostgreSQL): rows another transaction
            # holds, or leased by another process meanwhile, show here and not above.
            pending = await conn.fetchall(
                "SELECT id, channel_id, lease_owner, lease_expires_at FROM announcement_outbox "
                "WHERE state = 'pending' AND " + dialect.in_list("channel_id"),
                (channel_list,),
            )
            locked_ids = {int(row[0]) for row in locked}
            blocked = {
                int(channel_id)
                for row_id, channel_id, holder, expires_at in pending
                if int(row_id) not in locked_ids
                or (holder is not None and holder != owner and expires_at > now)
            }
            by_channel: dict[int, list[int]] = {}
            for row_id, channel_id in locked:
                by_channel.setdefault(int(channel_id), []).append(int(row_id))
            claimed: list[int] = []
            for channel_id in channels:
                ids = by_channel.get(channel_id)
                if channel_id in blocked or not ids:
                    continue
                if claimed and len(claimed) + len(ids) > limit:
                    break
                claimed += ids
            if not claimed:
                return []
            rows = await conn.fetchall(
                "UPDATE announcement_outbox SET lease_owner = ?, lease_expires_at = ? "
                "WHERE " + dialect.in_list("id") + " RETURNING *",
                (owner, now + lease_seconds, dialect.list_param(claimed)),
            )
        messages = sorted(await self._messages(rows), key=lambda message: message.id)
        sendable: list[OutboxMessage] = []
        waiting: set[int] = set()
        for message in messages:
            # A row waiting for a retry holds back the later rows of its channel.
            if message.channel_id in waiting or message.next_attempt_at > now:
                waiting.add(message.channel_id)
            else:
                sendable.append(message)
        return sendable

    async def begin_attempt(
        self, row_id: int, owner: str, *, now: float, lease_seconds: float
    ) -> bool:
        """Just before a row is sent: check its lease is still `owner`'s and extend it, and
        record (on its first send) that Discord may have its message from now. False when
        another process took the row's channel over (this process must not send it)."""
        async with self.db.transaction() as c:
            changed = await c.execute(
                "UPDATE announcement_outbox SET lease_expires_at = ?, "
                "first_attempt_at = COALESCE(first_attempt_at, ?) "
                "WHERE id = ? AND state = 'pending' AND lease_owner = ?",
                (now + lease_seconds, now, row_id, owner),
            )
        return changed > 0

    async def release_channel(self, owner: str, channel_id: int) -> int:
        """Free `owner`'s leases on a channel's pending rows (its drain stopped: a retry is
        due later, or the process is stopping). Returns how many."""
        async with self.db.transaction() as c:
            return await c.execute(
                "UPDATE announcement_outbox SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE channel_id = ? AND lease_owner = ? AND state = 'pending'",
                (channel_id, owner),
            )

    async def release_all(self, owner: str) -> int:
        """Free every lease `owner` holds on pending rows (the process is stopping)."""
        async with self.db.transaction() as c:
            return await c.execute(
                "UPDATE announcement_outbox SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE lease_owner = ? AND state = 'pending'",
                (owner,),
            )

    async def next_attempt_at(self, *, after: float) -> float | None:
        """The earliest retry time after `after` among pending rows, or None."""
        value = await self.db.fetchval(
            "SELECT min(next_attempt_at) FROM announcement_outbox "
            "WHERE state = 'pending' AND next_attempt_at > ?",
            (after,),
        )
        return None if value is None else float(value)

    async def mark_posted(self, row_id: int, *, message_id: int) -> None:
        """Record that Discord accepted the message of a 'thread' row, whose thread is still
        to be made (the row stays pending: a retry goes on from the thread)."""
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE announcement_outbox SET message_id = ? WHERE id = ? AND state = 'pending'",
                (message_id, row_id),
            )

    async def mark_thread_attempting(self, row_id: int, *, now: float) -> None:
        """Record, before a 'thread' row's thread is first asked for, that Discord may have
        it from now on."""
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE announcement_outbox SET thread_attempt_at = ? "
                "WHERE id = ? AND thread_attempt_at IS NULL",
                (now, row_id),
            )

    async def mark_sent(
        self,
        row_id: int,
        *,
        message_id: int,
        now: float,
        thread_id: int | None = None,
        note: str | None = None,
    ) -> None:
        """Record that Discord accepted the row's message (and made its thread or forum post,
        `thread_id`); `note` says what went wrong with a thread that could not be made. A
        summary's message is also remembered as where it was posted (reading-session cards
        link to it): a forum post's message is in the post itself."""
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE announcement_outbox SET state = 'sent', message_id = ?, sent_at = ?, "
                "thread_id = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                (message_id, now, thread_id, note, row_id),
            )
            await c.execute(
                "INSERT INTO summary_posts "
                "(summary_id, guild_id, channel_id, message_id, posted_at) "
                "SELECT summary_id, guild_id, "
                "CASE WHEN delivery = 'forum' AND thread_id IS NOT NULL THEN thread_id "
                "ELSE channel_id END, ?, ? FROM announcement_outbox "
                "WHERE id = ? AND summary_id IS NOT NULL "
                "ON CONFLICT (summary_id, message_id) DO NOTHING",
                (message_id, now, row_id),
            )

    async def schedule_retry(self, row_id: int, error: str, *, next_attempt_at: float) -> None:
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE announcement_outbox SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ? WHERE id = ? AND state = 'pending'",
                (error, next_attempt_at, row_id),
            )

    async def drop(self, row_id: int, reason: str) -> None:
        """Give up on one row that can never be delivered."""
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE announcement_outbox SET state = 'dropped', attempts = attempts + 1, "
                "last_error = ? WHERE id = ? AND state = 'pending'",
                (reason, row_id),
            )

    async def drop_pending_for_channel(
        self, channel_id: int, reason: str, *, conn: Connection | None = None
    ) -> int:
        """Give up on everything still pending for a channel that is gone. Returns how many."""
        async with self.db.writing(conn) as c:
            return await c.execute(
                "UPDATE announcement_outbox SET state = 'dropped', last_error = ? "
                "WHERE channel_id = ? AND state = 'pending'",
                (reason, channel_id),
            )

    async def for_channel(self, channel_id: int) -> list[OutboxMessage]:
        """Every row for one channel, oldest first (for tests and diagnostics)."""
        rows = await self.db.fetchall(
            "SELECT * FROM announcement_outbox WHERE channel_id = ? ORDER BY id", (channel_id,)
        )
        return await self._messages(rows)

    async def backlog(self, *, guild_id: int | None = None) -> OutboxBacklog:
        """Pending rows (of one guild, or of all with None) and when the oldest was queued."""
        row = await self.db.fetchone(
            "SELECT count(*), min(created_at) FROM announcement_outbox "
            "WHERE state = 'pending' AND (CAST(? AS BIGINT) IS NULL OR guild_id = ?)",
            (guild_id, guild_id),
        )
        assert row is not None
        return OutboxBacklog(int(row[0]), None if row[1] is None else float(row[1]))

    async def count(self, state: str) -> int:
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM announcement_outbox WHERE state = ?", (state,)
            )
        )

    async def prune_sent(self, *, older_than: float) -> int:
        """Forget delivered rows once their nonces can no longer matter."""
        async with self.db.transaction() as c:
            return await c.execute(
                "DELETE FROM announcement_outbox WHERE state != 'pending' AND created_at < ?",
                (older_than,),
            )

    async def announced_summary(
        self, summary_id: int, *, conn: Connection | None = None
    ) -> AnnouncedSummary | None:
        """A summary with its paper, as an announcement shows it."""
        sql = (
            "SELECT s.id, s.origin, s.guild_id, s.author_name, s.title, s.tldr, s.body, s.url, "
            "s.score, s.created_at, p.title, p.authors, p.venue, p.year, p.url, s.edited_at, "
            "(SELECT count(*) FROM summary_votes AS v WHERE v.summary_id = s.id AND v.value > 0), "
            "(SELECT count(*) FROM summary_votes AS v WHERE v.summary_id = s.id AND v.value < 0), "
            "s.kind "
            "FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id "
            "WHERE s.id = ? AND s.deleted_at IS NULL"
        )
        row = await self.db.fetchone(sql, (summary_id,), conn=conn)
        return None if row is None else AnnouncedSummary(*tuple(row))
