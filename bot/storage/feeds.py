"""Feeds, the channels subscribed to them, the entries seen, and community announce channels.

Writes that belong to a larger unit of work (a poll that also ingests summaries and fills
the outbox) take the caller's transaction connection as `conn`; without one they open their
own transaction. Times are Unix seconds as floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.storage.database import Connection, Database, IntegrityError, Row
from bot.storage.leases import EVERYTHING, LeaseLostError, WorkShare

# How a subscription's announcements reach its channel (migration 0014): a message; a message
# with a discussion thread started from it (`/feed add ... thread:true`); or a post in a
# forum channel.
Delivery = Literal["message", "thread", "forum"]


class AlreadySubscribedError(Exception):
    """The channel is already subscribed to that feed."""


class GuildFeedLimitError(Exception):
    """The guild already has as many subscriptions as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} feeds per server")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    url: str
    title: str
    site_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    initialized: bool
    interval_seconds: float | None
    next_poll_at: float
    last_polled_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    consecutive_failures: int
    paused_reason: str | None
    created_at: float

    @property
    def display_name(self) -> str:
        return self.title or self.url

    @classmethod
    def from_row(cls, row: Row) -> Feed:
        return cls(
            id=row["id"],
            url=row["url"],
            title=row["title"],
            site_url=row["site_url"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            body_hash=row["body_hash"],
            initialized=bool(row["initialized"]),
            interval_seconds=row["interval_seconds"],
            next_poll_at=row["next_poll_at"],
            last_polled_at=row["last_polled_at"],
            last_success_at=row["last_success_at"],
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
            consecutive_failures=row["consecutive_failures"],
            paused_reason=row["paused_reason"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    feed_id: int
    guild_id: int
    channel_id: int
    include_terms: str
    exclude_terms: str
    mention_role_id: int | None
    paused: bool
    disabled_reason: str | None
    created_by: int | None
    created_at: float
    delivery: Delivery = "message"

    @property
    def delivers(self) -> bool:
        """Whether new entries are announced to this subscription's channel."""
        return not self.paused and self.disabled_reason is None

    @classmethod
    def from_row(cls, row: Row) -> Subscription:
        return cls(
            id=row["id"],
            feed_id=row["feed_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            include_terms=row["include_terms"],
            exclude_terms=row["exclude_terms"],
            mention_role_id=row["mention_role_id"],
            paused=bool(row["paused"]),
            disabled_reason=row["disabled_reason"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            delivery=row["delivery"],
        )


@dataclass(frozen=True, slots=True)
class SubscriptionWithFeed:
    """A subscription together with the state of its feed, for `/feed list` and friends."""

    subscription: Subscription
    feed: Feed


@dataclass(frozen=True, slots=True)
class CommunityAnnounceChannel:
    guild_id: int
    channel_id: int
    disabled_reason: str | None


# A constant prefix shared by the subscription queries below (no values are ever formatted in).
_SELECT_SUBSCRIPTIONS = (
    "SELECT s.id, s.feed_id, s.guild_id, s.channel_id, s.include_terms, s.exclude_terms, "
    "s.mention_role_id, s.paused, s.disabled_reason, s.created_by, s.created_at, s.delivery "
    "FROM feed_subscriptions AS s "
)


class FeedRepository:
    """Feeds and the identities of the entries already seen in each."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, feed_id: int) -> Feed | None:
        row = await self.db.fetchone("SELECT * FROM feeds WHERE id = ?", (feed_id,))
        return None if row is None else Feed.from_row(row)

    async def get_by_url(self, url: str) -> Feed | None:
        row = await self.db.fetchone("SELECT * FROM feeds WHERE url = ?", (url,))
        return None if row is None else Feed.from_row(row)

    async def create(
        self,
        url: str,
        *,
        title: str,
        site_url: str | None,
        now: float,
        next_poll_at: float,
        conn: Connection | None = None,
    ) -> int:
        """Insert a feed, or return the id of the one already stored under `url`."""
        async with self.db.writing(conn) as c:
            await c.execute(
                "INSERT INTO feeds (url, title, site_url, next_poll_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                (url, title, site_url, next_poll_at, now),
            )
            found = await c.fetchval("SELECT id FROM feeds WHERE url = ?", (url,))
        assert found is not None
        return int(found)

    async def due(
        self, now: float, *, exclude: Iterable[int] = (), limit: int = 1000
    ) -> list[Feed]:
        """Feeds whose next poll is due: not paused by the bot, with at least one subscriber.

        `exclude` names feeds already being polled, so a slow one is never started twice.
        """
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT * FROM feeds AS f "
            "WHERE f.paused_reason IS NULL AND f.next_poll_at <= ? "
            "AND " + dialect.in_list("f.id", negate=True) + " "
            "AND EXISTS (SELECT 1 FROM feed_subscriptions AS s WHERE s.feed_id = f.id) "
            "ORDER BY f.next_poll_at, f.id LIMIT ?",
            (now, dialect.list_param(exclude), limit),
        )
        return [Feed.from_row(row) for row in rows]

    async def count_due(self, now: float) -> int:
        """How many feeds `due` would return at `now` (none excluded, no limit)."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM feeds AS f "
                "WHERE f.paused_reason IS NULL AND f.next_poll_at <= ? "
                "AND EXISTS (SELECT 1 FROM feed_subscriptions AS s WHERE s.feed_id = f.id)",
                (now,),
            )
        )

    async def subscriber_guilds(self, feed_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """The servers subscribed to each of these feeds (feeds without any are left out)."""
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT DISTINCT feed_id, guild_id FROM feed_subscriptions "
            "WHERE " + dialect.in_list("feed_id") + " ORDER BY feed_id, guild_id",
            (dialect.list_param(feed_ids),),
        )
        guilds: dict[int, list[int]] = {}
        for feed_id, guild_id in rows:
            guilds.setdefault(feed_id, []).append(guild_id)
        return {feed_id: tuple(ids) for feed_id, ids in guilds.items()}

    async def record_unchanged(
        self,
        feed_id: int,
        *,
        now: float,
        next_poll_at: float,
        etag: str | None = None,
        last_modified: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """A poll succeeded without new content (304, or the same body as last time).

        New validators are kept when the server sent some (a 200 with the same body).
        """
        async with self.db.writing(conn) as c:
            await c.execute(
                "UPDATE feeds SET last_polled_at = ?, last_success_at = ?, "
                "consecutive_failures = 0, next_poll_at = ?, etag = COALESCE(?, etag), "
                "last_modified = COALESCE(?, last_modified) WHERE id = ?",
                (now, now, next_poll_at, etag, last_modified, feed_id),
            )

    async def record_success(
        self,
        feed_id: int,
        *,
        now: float,
        next_poll_at: float,
        interval_seconds: float | None,
        etag: str | None,
        last_modified: str | None,
        body_hash: str,
        title: str,
        site_url: str | None,
        conn: Connection | None = None,
    ) -> None:
        """A poll parsed a new body: remember its validators and that the feed is initialised."""
        async with self.db.writing(conn) as c:
            await c.execute(
                "UPDATE feeds SET last_polled_at = ?, last_success_at = ?, "
                "consecutive_failures = 0, next_poll_at = ?, interval_seconds = ?, etag = ?, "
                "last_modified = ?, body_hash = ?, title = CASE WHEN ? = '' THEN title ELSE ? END, "
                "site_url = COALESCE(?, site_url), initialized = 1 WHERE id = ?",
                (
                    now,
                    now,
                    next_poll_at,
                    interval_seconds,
                    etag,
                    last_modified,
                    body_hash,
                    title,
                    title,
                    site_url,
                    feed_id,
                ),
            )

    async def record_failure(
        self,
        feed_id: int,
        error: str,
        *,
        now: float,
        next_poll_at: float,
        conn: Connection | None = None,
    ) -> int:
        """Count a failed poll and schedule the retry. Returns the failures in a row so far."""
        async with self.db.writing(conn) as c:
            failures = await c.fetchval(
                "UPDATE feeds SET last_polled_at = ?, last_error = ?, last_error_at = ?, "
                "consecutive_failures = consecutive_failures + 1, next_poll_at = ? WHERE id = ? "
                "RETURNING consecutive_failures",
                (now, error, now, next_poll_at, feed_id),
            )
        return 0 if failures is None else int(failures)

    async def pause(self, feed_id: int, reason: str, *, conn: Connection | None = None) -> None:
        """Stop polling a feed until someone resumes it (410 Gone, too many failures)."""
        async with self.db.writing(conn) as c:
            await c.execute("UPDATE feeds SET paused_reason = ? WHERE id = ?", (reason, feed_id))

    async def resume(self, feed_id: int, *, now: float) -> None:
        """Poll a feed the bot had paused again, at once, with a clean failure count."""
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE feeds SET paused_reason = NULL, consecutive_failures = 0, "
                "next_poll_at = ? WHERE id = ?",
                (now, feed_id),
            )

    # --- leases: which process polls a feed (bot.storage.leases) -------------------------

    async def claim_due(
        self,
        owner: str,
        *,
        now: float,
        lease_seconds: float,
        limit: int,
        exclude: Iterable[int] = (),
        share: WorkShare = EVERYTHING,
        behind_after: float = 0.0,
    ) -> list[Feed]:
        """Claim up to `limit` due feeds (as `due` finds them) for `owner` until `now +
        lease_seconds`, soonest due first: feeds nobody holds, whose lease expired (its
        holder died or stalled), or that `owner` itself holds but is not polling (a poll
        cut short by an outage; `exclude` names the ones it is polling).

        Of the feeds in another process's `share`, only those due for more than
        `behind_after` seconds are claimed: that process is dead, stalled or behind, and
        any process takes them over.

        On PostgreSQL the candidates are locked with SKIP LOCKED: two processes claiming at
        once pass over each other's rows, so no feed is claimed twice and neither waits.
        """
        if limit <= 0:
            return []
        dialect = self.db.dialect
        share_params = (share.of, share.rank, now - behind_after)
        async with self.db.transaction() as conn:
            rows = await conn.fetchall(
                "SELECT f.id FROM feeds AS f "
                "WHERE f.paused_reason IS NULL AND f.next_poll_at <= ? "
                "AND (f.lease_owner IS NULL OR f.lease_owner = ? OR f.lease_expires_at <= ?) "
                "AND " + dialect.in_list("f.id", negate=True) + " "
                "AND (f.id % ? = ? OR f.next_poll_at <= ?) "
                "AND EXISTS (SELECT 1 FROM feed_subscriptions AS s WHERE s.feed_id = f.id) "
                "ORDER BY f.next_poll_at, f.id LIMIT ?" + dialect.skip_locked,
                (now, owner, now, dialect.list_param(exclude), *share_params, limit),
            )
            if not rows:
                return []
            claimed = await conn.fetchall(
                "UPDATE feeds SET lease_owner = ?, lease_expires_at = ? WHERE "
                + dialect.in_list("id")
                + " RETURNING *",
                (owner, now + lease_seconds, dialect.list_param([row[0] for row in rows])),
            )
        feeds = [Feed.from_row(row) for row in claimed]
        return sorted(feeds, key=lambda feed: (feed.next_poll_at, feed.id))

    async def claim(self, feed_id: int, owner: str, *, now: float, lease_seconds: float) -> bool:
        """Claim one feed whether due or not (a poll asked for by hand, `/feed add`'s first
        read); False when another process holds it."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE feeds SET lease_owner = ?, lease_expires_at = ? WHERE id = ? "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at <= ?)",
                (owner, now + lease_seconds, feed_id, owner, now),
            )
        return changed > 0

    async def renew_leases(
        self, owner: str, feed_ids: Iterable[int], *, now: float, lease_seconds: float
    ) -> set[int]:
        """Extend `owner`'s leases on the feeds it is polling; returns those renewed. The
        others were taken over after their lease expired, freed meanwhile by their poll, or
        (PostgreSQL) are being recorded right now, their rows locked: those are passed over
        rather than waited for, so a renewal never waits for, nor deadlocks with, a poll's
        writes (`taken_over` tells which were lost)."""
        ids = list(feed_ids)
        if not ids:
            return set()
        dialect = self.db.dialect
        async with self.db.transaction() as conn:
            rows = await conn.fetchall(
                "UPDATE feeds SET lease_expires_at = ? WHERE id IN ("
                "SELECT id FROM feeds WHERE lease_owner = ? AND "
                + dialect.in_list("id")
                + dialect.skip_locked
                + ") RETURNING id",
                (now + lease_seconds, owner, dialect.list_param(ids)),
            )
        return {int(row[0]) for row in rows}

    async def taken_over(self, owner: str, feed_ids: Iterable[int]) -> set[int]:
        """Which of `feed_ids` another process holds now (not those freed meanwhile)."""
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT id FROM feeds WHERE lease_owner IS NOT NULL AND lease_owner <> ? AND "
            + dialect.in_list("id"),
            (owner, dialect.list_param(list(feed_ids))),
        )
        return {int(row[0]) for row in rows}

    async def release_leases(self, owner: str, feed_ids: Iterable[int] | None = None) -> int:
        """Free `owner`'s leases (on `feed_ids`, or all of them): a process that stops
        hands its feeds to the others at once instead of at expiry. Returns how many."""
        dialect = self.db.dialect
        async with self.db.transaction() as conn:
            if feed_ids is None:
                return await conn.execute(
                    "UPDATE feeds SET lease_owner = NULL, lease_expires_at = NULL "
                    "WHERE lease_owner = ?",
                    (owner,),
                )
            return await conn.execute(
                "UPDATE feeds SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE lease_owner = ? AND " + dialect.in_list("id"),
                (owner, dialect.list_param(list(feed_ids))),
            )

    async def hold_lease(self, feed_id: int, owner: str, *, conn: Connection) -> None:
        """Inside a transaction recording part of a poll: lock the feed's row until the
        transaction ends and check that the poll's lease is still `owner`'s. Raises
        `LeaseLostError` (the caller rolls back) when another process took the feed over.

        The lock also makes two processes writing one feed's entries take turns (PostgreSQL;
        SQLite's writers take turns anyway): the second sees the first's seen marks, so an
        entry is announced once."""
        holder = await conn.fetchval(
            "SELECT lease_owner FROM feeds WHERE id = ?" + conn.dialect.for_update, (feed_id,)
        )
        if holder != owner:
            raise LeaseLostError(f"feed {feed_id} is leased by {holder or 'nobody'} now")

    async def end_lease(
        self, feed_id: int, owner: str, *, outcome: str, now: float, conn: Connection
    ) -> None:
        """Inside the transaction recording a poll's result: free the feed's lease, checking
        it was still `owner`'s (`LeaseLostError` otherwise: the caller rolls back), and log
        who polled the feed and how it went."""
        changed = await conn.execute(
            "UPDATE feeds SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (feed_id, owner),
        )
        if not changed:
            raise LeaseLostError(f"feed {feed_id} is no longer leased by {owner}")
        await conn.execute(
            "INSERT INTO feed_poll_log (feed_id, polled_by, polled_at, outcome) "
            "VALUES (?, ?, ?, ?)",
            (feed_id, owner, now, outcome),
        )

    async def leased_count(self, *, now: float, owner: str | None = None) -> int:
        """Feeds under an unexpired lease (of `owner`, or of any process)."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL "
                "AND lease_expires_at > ? AND (CAST(? AS TEXT) IS NULL OR lease_owner = ?)",
                (now, owner, owner),
            )
        )

    async def poll_counts(self, *, since: float = 0.0) -> dict[str, int]:
        """Polls recorded by each process (owner id) since `since` (the poll log keeps a
        day): how the polling is spread over the processes."""
        rows = await self.db.fetchall(
            "SELECT polled_by, count(*) FROM feed_poll_log WHERE polled_at >= ? "
            "GROUP BY polled_by ORDER BY polled_by",
            (since,),
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def prune_poll_log(self, *, older_than: float) -> int:
        """Forget poll log rows older than `older_than`. Returns how many."""
        async with self.db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM feed_poll_log WHERE polled_at < ?", (older_than,)
            )

    async def make_all_due(self, now: float) -> None:
        """Make every feed the bot has not paused due at `now` (an operator's "poll now")."""
        async with self.db.transaction() as c:
            await c.execute("UPDATE feeds SET next_poll_at = ? WHERE paused_reason IS NULL", (now,))

    async def move_url(self, feed_id: int, new_url: str, *, conn: Connection | None = None) -> bool:
        """Follow a permanent redirect. False when another feed row already has `new_url`."""
        async with self.db.writing(conn) as c:
            # A conditional update rather than catching the unique key's error: on PostgreSQL
            # an error would end the caller's whole transaction. The unique key still guards
            # against a concurrent writer (IntegrityError then).
            changed = await c.execute(
                "UPDATE feeds SET url = ? WHERE id = ? "
                "AND NOT EXISTS (SELECT 1 FROM feeds AS other WHERE other.url = ?)",
                (new_url, feed_id, new_url),
            )
        return changed > 0

    async def delete_if_unsubscribed(self, feed_id: int, *, conn: Connection | None = None) -> bool:
        """Forget a feed (and its seen entries) once no channel subscribes to it."""
        async with self.db.writing(conn) as c:
            deleted = await c.execute(
                "DELETE FROM feeds WHERE id = ? AND NOT EXISTS "
                "(SELECT 1 FROM feed_subscriptions WHERE feed_id = ?)",
                (feed_id, feed_id),
            )
            return deleted > 0

    async def seen_identities(
        self,
        feed_id: int,
        identities: Sequence[str],
        *,
        conn: Connection | None = None,
    ) -> set[str]:
        """Which of `identities` were recorded for the feed already."""
        dialect = self.db.dialect
        sql = "SELECT identity FROM feed_entries WHERE feed_id = ? AND " + dialect.in_list(
            "identity"
        )
        params = (feed_id, dialect.list_param(identities))
        rows = await self.db.fetchall(sql, params, conn=conn)
        return {row[0] for row in rows}

    async def mark_seen(
        self,
        feed_id: int,
        seen: Iterable[tuple[str, int | None]],
        *,
        now: float,
        conn: Connection | None = None,
    ) -> None:
        """Record (identity, summary id) pairs as seen; already-seen ones keep their first time."""
        async with self.db.writing(conn) as c:
            await c.executemany(
                "INSERT INTO feed_entries (feed_id, identity, summary_id, first_seen_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (feed_id, identity) DO UPDATE SET "
                "summary_id = COALESCE(excluded.summary_id, feed_entries.summary_id)",
                [(feed_id, identity, summary_id, now) for identity, summary_id in seen],
            )

    async def seen_count(self, feed_id: int) -> int:
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM feed_entries WHERE feed_id = ?", (feed_id,)
            )
        )


class SubscriptionRepository:
    """Which channel of which guild gets a feed's entries, with its filters and role."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        feed_id: int,
        guild_id: int,
        channel_id: int,
        include_terms: str,
        exclude_terms: str,
        mention_role_id: int | None,
        created_by: int | None,
        now: float,
        guild_limit: int | None = None,
        delivery: Delivery = "message",
        conn: Connection | None = None,
    ) -> int:
        """Subscribe a channel (`delivery`: how its announcements are posted there).

        Raises AlreadySubscribedError for a second subscription of the channel to that feed,
        and GuildFeedLimitError when the guild already has `guild_limit` (checked in the same
        transaction, so two concurrent adds cannot both squeeze in).
        """
        try:
            async with self.db.writing(conn) as c:
                if guild_limit is not None:
                    # Two adds in one guild at once take turns (PostgreSQL), so both cannot
                    # count the same total and squeeze in.
                    await self.db.lock(c, "guild_subscriptions", guild_id)
                    count = await c.fetchval(
                        "SELECT count(*) FROM feed_subscriptions WHERE guild_id = ?", (guild_id,)
                    )
                    if count is not None and count >= guild_limit:
                        raise GuildFeedLimitError(guild_limit)
                subscription_id = await c.fetchval(
                    "INSERT INTO feed_subscriptions (feed_id, guild_id, channel_id, "
                    "include_terms, exclude_terms, mention_role_id, created_by, created_at, "
                    "delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        feed_id,
                        guild_id,
                        channel_id,
                        include_terms,
                        exclude_terms,
                        mention_role_id,
                        created_by,
                        now,
                        delivery,
                    ),
                )
                return int(subscription_id)
        except IntegrityError as exc:
            raise AlreadySubscribedError(str(exc)) from exc

    async def count_for_guild(self, guild_id: int) -> int:
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM feed_subscriptions WHERE guild_id = ?", (guild_id,)
            )
        )

    async def get(self, subscription_id: int) -> Subscription | None:
        row = await self.db.fetchone(
            _SELECT_SUBSCRIPTIONS + "WHERE s.id = ?",
            (subscription_id,),
        )
        return None if row is None else Subscription.from_row(row)

    async def for_feed(self, feed_id: int, *, conn: Connection | None = None) -> list[Subscription]:
        """Every subscription to a feed, oldest first (the caller decides who gets what)."""
        sql = _SELECT_SUBSCRIPTIONS + "WHERE s.feed_id = ? ORDER BY s.id"
        rows = await self.db.fetchall(sql, (feed_id,), conn=conn)
        return [Subscription.from_row(row) for row in rows]

    async def for_guild(self, guild_id: int) -> list[SubscriptionWithFeed]:
        """A guild's subscriptions with their feeds, by channel then age."""
        # One snapshot for both queries: a feed removed in between cannot go missing.
        async with self.db.reading() as conn:
            rows = await self.db.fetchall(
                _SELECT_SUBSCRIPTIONS + "WHERE s.guild_id = ? ORDER BY s.channel_id, s.id",
                (guild_id,),
                conn=conn,
            )
            subscriptions = [Subscription.from_row(row) for row in rows]
            feed_rows = await self.db.fetchall(
                "SELECT * FROM feeds WHERE " + self.db.dialect.in_list("id"),
                (self.db.dialect.list_param(sorted({s.feed_id for s in subscriptions})),),
                conn=conn,
            )
        feeds = {row["id"]: Feed.from_row(row) for row in feed_rows}
        return [SubscriptionWithFeed(s, feeds[s.feed_id]) for s in subscriptions]

    async def in_guild(self, guild_id: int, subscription_id: int) -> SubscriptionWithFeed | None:
        """One subscription of a guild with its feed; None if it is not that guild's."""
        subscription = await self.get(subscription_id)
        if subscription is None or subscription.guild_id != guild_id:
            return None
        feed = await FeedRepository(self.db).get(subscription.feed_id)
        return None if feed is None else SubscriptionWithFeed(subscription, feed)

    async def set_paused(self, subscription_id: int, paused: bool) -> None:
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE feed_subscriptions SET paused = ? WHERE id = ?",
                (int(paused), subscription_id),
            )

    async def clear_disabled(self, subscription_id: int) -> None:
        async with self.db.transaction() as c:
            await c.execute(
                "UPDATE feed_subscriptions SET disabled_reason = NULL WHERE id = ?",
                (subscription_id,),
            )

    async def disable_channel(
        self, channel_id: int, reason: str, *, conn: Connection | None = None
    ) -> int:
        """Disable every subscription of a channel Discord says is gone or forbidden."""
        async with self.db.writing(conn) as c:
            return await c.execute(
                "UPDATE feed_subscriptions SET disabled_reason = ? WHERE channel_id = ?",
                (reason, channel_id),
            )

    async def remove(self, subscription_id: int) -> None:
        """Unsubscribe; the feed itself is forgotten once nobody subscribes to it."""
        async with self.db.transaction() as c:
            feed_id = await c.fetchval(
                "DELETE FROM feed_subscriptions WHERE id = ? RETURNING feed_id", (subscription_id,)
            )
            if feed_id is None:
                return
            await FeedRepository(self.db).delete_if_unsubscribed(int(feed_id), conn=c)


class CommunityAnnounceRepository:
    """Where each guild's new community summaries are announced."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(
        self, guild_id: int, *, conn: Connection | None = None
    ) -> CommunityAnnounceChannel | None:
        sql = (
            "SELECT guild_id, channel_id, disabled_reason FROM community_announce_channels "
            "WHERE guild_id = ?"
        )
        row = await self.db.fetchone(sql, (guild_id,), conn=conn)
        return None if row is None else CommunityAnnounceChannel(row[0], row[1], row[2])

    async def set(self, guild_id: int, channel_id: int, *, set_by: int | None, now: float) -> None:
        async with self.db.transaction() as c:
            await c.execute(
                "INSERT INTO community_announce_channels (guild_id, channel_id, set_by, set_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "channel_id = excluded.channel_id, disabled_reason = NULL, "
                "set_by = excluded.set_by, set_at = excluded.set_at",
                (guild_id, channel_id, set_by, now),
            )

    async def clear(self, guild_id: int) -> None:
        async with self.db.transaction() as c:
            await c.execute(
                "DELETE FROM community_announce_channels WHERE guild_id = ?", (guild_id,)
            )

    async def disable_channel(
        self, channel_id: int, reason: str, *, conn: Connection | None = None
    ) -> None:
        """Stop announcing to a channel Discord says is gone or forbidden."""
        async with self.db.writing(conn) as c:
            await c.execute(
                "UPDATE community_announce_channels SET disabled_reason = ? WHERE channel_id = ?",
                (reason, channel_id),
            )
