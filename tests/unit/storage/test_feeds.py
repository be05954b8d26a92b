"""Feed, subscription, community-channel and outbox repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Database, IntegrityError, load_migrations
from bot.storage.feeds import (
    AlreadySubscribedError,
    CommunityAnnounceRepository,
    FeedRepository,
    SubscriptionRepository,
)
from bot.storage.outbox import (
    NONCE_LIMIT,
    NewOutboxMessage,
    OutboxMessage,
    OutboxRepository,
    derived_nonce,
)
from tests.databases import DatabaseFactory

# The sender's claims: one process, leases longer than any test.
OWNER = "process-a"
LEASE = 1_000.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def add_summary(db: Database, title: str = "A paper") -> int:
    async with db.transaction() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO summaries (origin, title, body, author_name) "
                "VALUES ('feed', ?, ?, ?) RETURNING id",
                (title, "Some **text**", "alice"),
            )
        )


async def test_create_feed_is_idempotent_by_url(db: Database) -> None:
    feeds = FeedRepository(db)
    first = await feeds.create("http://x/feed", title="X", site_url=None, now=1, next_poll_at=5)
    again = await feeds.create("http://x/feed", title="Y", site_url=None, now=2, next_poll_at=9)
    assert first == again
    feed = await feeds.get(first)
    assert feed is not None and feed.title == "X" and not feed.initialized
    assert feed.display_name == "X"


async def test_due_needs_a_subscriber_and_skips_paused_and_in_flight(db: Database) -> None:
    feeds, subs = FeedRepository(db), SubscriptionRepository(db)
    lonely = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=0)
    subscribed = await feeds.create("http://b", title="", site_url=None, now=0, next_poll_at=0)
    later = await feeds.create("http://c", title="", site_url=None, now=0, next_poll_at=100)
    paused = await feeds.create("http://d", title="", site_url=None, now=0, next_poll_at=0)
    for number, feed_id in enumerate((subscribed, later, paused)):
        await subs.add(
            feed_id=feed_id, guild_id=1, channel_id=10 + number, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    await feeds.pause(paused, "gone")
    assert [f.id for f in await feeds.due(50)] == [subscribed]
    assert await feeds.due(50, exclude=[subscribed]) == []
    assert {f.id for f in await feeds.due(100)} == {subscribed, later}
    assert lonely not in {f.id for f in await feeds.due(1000)}


async def test_subscriber_guilds_lists_each_server_once(db: Database) -> None:
    feeds, subs = FeedRepository(db), SubscriptionRepository(db)
    shared = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=0)
    own = await feeds.create("http://b", title="", site_url=None, now=0, next_poll_at=0)
    lonely = await feeds.create("http://c", title="", site_url=None, now=0, next_poll_at=0)
    for feed_id, guild_id, channel_id in ((shared, 2, 20), (shared, 1, 10), (shared, 1, 11),
                                          (own, 3, 30)):  # fmt: skip
        await subs.add(
            feed_id=feed_id, guild_id=guild_id, channel_id=channel_id, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    assert await feeds.subscriber_guilds([shared, own, lonely]) == {shared: (1, 2), own: (3,)}
    assert await feeds.subscriber_guilds([]) == {}


async def test_failures_count_up_and_success_resets(db: Database) -> None:
    feeds = FeedRepository(db)
    feed_id = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=0)
    assert await feeds.record_failure(feed_id, "boom", now=1, next_poll_at=10) == 1
    assert await feeds.record_failure(feed_id, "boom again", now=2, next_poll_at=20) == 2
    feed = await feeds.get(feed_id)
    assert feed is not None
    assert (feed.consecutive_failures, feed.last_error, feed.next_poll_at) == (2, "boom again", 20)
    await feeds.record_success(
        feed_id, now=3, next_poll_at=30, interval_seconds=None, etag='"v1"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT", body_hash="h", title="Feed",
        site_url="http://a/", conn=None,
    )  # fmt: skip
    feed = await feeds.get(feed_id)
    assert feed is not None
    assert feed.consecutive_failures == 0 and feed.initialized and feed.etag == '"v1"'
    assert feed.last_error == "boom again"  # still shown, with its time, in /feed list
    assert feed.title == "Feed" and feed.last_success_at == 3
    await feeds.record_success(
        feed_id, now=4, next_poll_at=40, interval_seconds=None, etag=None, last_modified=None,
        body_hash="h2", title="", site_url=None,
    )  # fmt: skip
    feed = await feeds.get(feed_id)
    assert feed is not None and feed.title == "Feed"  # an empty title keeps the known one


async def test_pause_and_resume(db: Database) -> None:
    feeds = FeedRepository(db)
    feed_id = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=50)
    await feeds.record_failure(feed_id, "x", now=1, next_poll_at=10)
    await feeds.pause(feed_id, "gone")
    await feeds.resume(feed_id, now=7)
    feed = await feeds.get(feed_id)
    assert feed is not None
    assert (feed.paused_reason, feed.consecutive_failures, feed.next_poll_at) == (None, 0, 7)


async def test_move_url_refuses_a_url_taken_by_another_feed(db: Database) -> None:
    feeds = FeedRepository(db)
    a = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=0)
    await feeds.create("http://b", title="", site_url=None, now=0, next_poll_at=0)
    assert await feeds.move_url(a, "http://new")
    assert not await feeds.move_url(a, "http://b")
    feed = await feeds.get(a)
    assert feed is not None and feed.url == "http://new"


async def test_seen_identities_and_mark_seen(db: Database) -> None:
    feeds = FeedRepository(db)
    feed_id = await feeds.create("http://a", title="", site_url=None, now=0, next_poll_at=0)
    summary = await add_summary(db)
    await feeds.mark_seen(feed_id, [("i1", None), ("i2", summary)], now=1)
    await feeds.mark_seen(feed_id, [("i1", summary), ("i2", None)], now=2)
    assert await feeds.seen_identities(feed_id, ["i1", "i3", "i2"]) == {"i1", "i2"}
    assert await feeds.seen_count(feed_id) == 2
    rows = await db.fetchall(
        "SELECT identity, summary_id, first_seen_at FROM feed_entries ORDER BY identity"
    )
    assert [tuple(r) for r in rows] == [("i1", summary, 1), ("i2", summary, 1)]


async def test_subscriptions_per_guild_and_removal_forgets_the_feed(db: Database) -> None:
    feeds, subs = FeedRepository(db), SubscriptionRepository(db)
    feed_id = await feeds.create("http://a", title="A", site_url=None, now=0, next_poll_at=0)
    common: dict[str, Any] = {"include_terms": "", "exclude_terms": "", "created_by": 5, "now": 0}
    first = await subs.add(feed_id=feed_id, guild_id=1, channel_id=10, mention_role_id=7, **common)
    second = await subs.add(
        feed_id=feed_id, guild_id=2, channel_id=20, mention_role_id=None, **common
    )
    with pytest.raises(AlreadySubscribedError):
        await subs.add(feed_id=feed_id, guild_id=1, channel_id=10, mention_role_id=None, **common)
    assert await subs.count_for_guild(1) == 1
    listed = await subs.for_guild(1)
    assert [(item.subscription.id, item.feed.title) for item in listed] == [(first, "A")]
    assert listed[0].subscription.mention_role_id == 7
    assert await subs.in_guild(2, first) is None  # another guild's subscription is invisible
    assert (await subs.in_guild(1, first)) is not None

    await subs.set_paused(first, True)
    await subs.disable_channel(20, "gone")
    states = {s.id: (s.paused, s.disabled_reason, s.delivers) for s in await subs.for_feed(feed_id)}
    assert states == {first: (True, None, False), second: (False, "gone", False)}
    await subs.clear_disabled(second)
    await subs.set_paused(first, False)
    assert all(s.delivers for s in await subs.for_feed(feed_id))

    await subs.remove(first)
    assert await feeds.get(feed_id) is not None  # guild 2 still subscribes
    await subs.remove(second)
    assert await feeds.get(feed_id) is None


async def test_community_announce_channel(db: Database) -> None:
    channels = CommunityAnnounceRepository(db)
    assert await channels.get(1) is None
    await channels.set(1, 100, set_by=9, now=0)
    await channels.disable_channel(100, "gone")
    target = await channels.get(1)
    assert target is not None and target.disabled_reason == "gone"
    await channels.set(1, 101, set_by=9, now=1)  # choosing again clears the problem
    target = await channels.get(1)
    assert target is not None and (target.channel_id, target.disabled_reason) == (101, None)
    await channels.clear(1)
    assert await channels.get(1) is None


async def test_outbox_rows_have_short_unique_nonces_and_send_in_order(db: Database) -> None:
    outbox = OutboxRepository(db)
    summary = await add_summary(db)
    ids = [
        await outbox.enqueue(kind="summary", guild_id=1, channel_id=10, summary_id=summary, now=0),
        await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="hi", now=0),
        await outbox.enqueue(kind="overflow", guild_id=1, channel_id=20, text="more", now=0),
    ]
    rows = await outbox.claim_sendable(OWNER, now=1, lease_seconds=LEASE)
    assert [row.id for row in rows] == ids
    nonces = {row.nonce for row in rows}
    assert len(nonces) == 3 and all(len(n) <= NONCE_LIMIT == 25 for n in nonces)

    await outbox.mark_sent(ids[0], message_id=555, now=2)
    sent = await outbox.get(ids[0])
    assert sent is not None and (sent.state, sent.message_id, sent.sent_at) == ("sent", 555, 2)
    # A row waiting for a retry holds back the later rows of its channel, not other channels.
    await outbox.schedule_retry(ids[1], "429", next_attempt_at=100)
    claimed = await outbox.claim_sendable(OWNER, now=3, lease_seconds=LEASE)
    assert [row.id for row in claimed] == [ids[2]]
    assert await outbox.next_attempt_at(after=3) == 100
    claimed = await outbox.claim_sendable(OWNER, now=100, lease_seconds=LEASE)
    assert [row.id for row in claimed] == [ids[1], ids[2]]
    retried = await outbox.get(ids[1])
    assert retried is not None and (retried.attempts, retried.last_error) == (1, "429")


async def test_nonces_are_derived_from_the_row_and_differ_across_databases(
    db: Database, databases: DatabaseFactory
) -> None:
    """Issue 8, item 14: "so" + a salt made once per database + the row id in base 36."""
    outbox = OutboxRepository(db)
    salt = await outbox.nonce_salt()
    assert len(salt) == 10 and int(salt, 16) >= 0
    assert await OutboxRepository(db).nonce_salt() == salt  # stored, not made per process
    row_id = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="hi", now=0)
    row = await outbox.get(row_id)
    assert row is not None and row.nonce == f"so{salt}{row_id}" == derived_nonce(salt, row_id)
    assert derived_nonce(salt, 36**3) == f"so{salt}1000"
    assert len(derived_nonce(salt, 2**63 - 1)) == NONCE_LIMIT
    other = await databases.open()
    assert await OutboxRepository(other).nonce_salt() != salt


async def test_ids_and_nonces_are_never_reused_after_pruning(db: Database) -> None:
    outbox = OutboxRepository(db)
    first = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="a", now=0)
    await outbox.mark_sent(first, message_id=1, now=0)
    assert await outbox.prune_sent(older_than=10) == 1
    second = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="b", now=20)
    assert second > first


async def test_the_first_attempt_is_recorded_once(db: Database) -> None:
    outbox = OutboxRepository(db)
    row_id = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="a", now=0)
    assert (await outbox.get(row_id)).first_attempt_at is None  # type: ignore[union-attr]
    await outbox.claim_sendable(OWNER, now=1, lease_seconds=LEASE)
    assert await outbox.begin_attempt(row_id, OWNER, now=5, lease_seconds=LEASE)
    assert await outbox.begin_attempt(row_id, OWNER, now=9, lease_seconds=LEASE)
    assert (await outbox.get(row_id)).first_attempt_at == 5  # type: ignore[union-attr]


async def test_the_sender_never_claims_a_row_of_an_open_or_rolled_back_transaction(
    db: Database,
) -> None:
    """A poll's rows reach the sender once committed, and a transaction that rolls back
    never showed its rows (issue 8, item 16). On PostgreSQL the claim does not see the open
    transaction's rows; on SQLite, one writer at a time, it waits for the transaction to end."""
    outbox = OutboxRepository(db)
    summary = await add_summary(db)
    claim: asyncio.Task[list[OutboxMessage]] | None = None
    with pytest.raises(RuntimeError, match="poll failed"):
        async with db.transaction() as conn:
            await outbox.enqueue(
                kind="summary", guild_id=1, channel_id=10, summary_id=summary, now=0, conn=conn
            )
            # Meanwhile (another coroutine), the sender claims.
            claim = asyncio.create_task(outbox.claim_sendable(OWNER, now=1, lease_seconds=LEASE))
            await asyncio.sleep(0.05)
            raise RuntimeError("poll failed")
    assert claim is not None and await asyncio.wait_for(claim, 5) == []
    assert await outbox.claim_sendable(OWNER, now=1, lease_seconds=LEASE) == []
    async with db.transaction() as conn:
        await outbox.enqueue(
            kind="summary", guild_id=1, channel_id=10, summary_id=summary, now=0, conn=conn
        )
    assert len(await outbox.claim_sendable(OWNER, now=1, lease_seconds=LEASE)) == 1


async def test_outbox_enqueue_many_keeps_order_in_the_callers_transaction(db: Database) -> None:
    outbox = OutboxRepository(db)
    summary = await add_summary(db)
    rows = [
        NewOutboxMessage(
            kind="summary", guild_id=1, channel_id=10, summary_id=summary, mention_role_id=7
        ),
        NewOutboxMessage(kind="overflow", guild_id=1, channel_id=10, text="and 3 more"),
        NewOutboxMessage(kind="notice", guild_id=2, channel_id=20, text="paused"),
    ]
    assert await outbox.enqueue_many([], now=0) == 0
    with pytest.raises(RuntimeError, match="abort"):
        async with db.transaction() as conn:
            assert await outbox.enqueue_many(rows, now=5, conn=conn) == 3
            raise RuntimeError("abort")
    assert await outbox.count("pending") == 0  # rolled back with the caller's transaction
    async with db.transaction() as conn:
        assert await outbox.enqueue_many(rows, now=5, conn=conn) == 3
    sent = await outbox.claim_sendable(OWNER, now=5, lease_seconds=LEASE)
    assert [(m.kind, m.channel_id, m.summary_id, m.mention_role_id, m.text) for m in sent] == [
        ("summary", 10, summary, 7, None),
        ("overflow", 10, None, None, "and 3 more"),
        ("notice", 20, None, None, "paused"),
    ]
    assert all(m.created_at == 5 for m in sent)
    assert len({m.nonce for m in sent}) == 3 and all(len(m.nonce) <= NONCE_LIMIT for m in sent)


async def test_outbox_drop_for_channel_and_prune(db: Database) -> None:
    outbox = OutboxRepository(db)
    a = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="a", now=0)
    b = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="b", now=0)
    c = await outbox.enqueue(kind="notice", guild_id=1, channel_id=11, text="c", now=0)
    await outbox.mark_sent(a, message_id=1, now=1)
    assert await outbox.drop_pending_for_channel(10, "gone") == 1
    states = {row.id: row.state for row in await outbox.for_channel(10)}
    assert states == {a: "sent", b: "dropped"}
    assert await outbox.count("pending") == 1
    assert await outbox.prune_sent(older_than=10) == 2  # sent and dropped go, pending stays
    assert await outbox.get(c) is not None


async def test_outbox_summary_rows_need_a_summary(db: Database) -> None:
    outbox = OutboxRepository(db)
    with pytest.raises(IntegrityError, match=r"(?i)check"):
        await outbox.enqueue(kind="summary", guild_id=1, channel_id=10, now=0)


async def test_announced_summary_joins_the_paper(db: Database) -> None:
    async with db.transaction() as conn:
        paper = await conn.fetchval(
            "INSERT INTO papers (canonical_key, title, authors, venue, year) "
            "VALUES ('arxiv:1', 'Batch Norm', 'S. Ioffe, C. Szegedy', 'ICML', 2015) RETURNING id"
        )
        summary = await conn.fetchval(
            "INSERT INTO summaries (paper_id, origin, title, tldr, body, url, score) "
            "VALUES (?, 'feed', 'ignored', 'short', 'long', 'http://s', 3) RETURNING id",
            (paper,),
        )
    assert summary is not None
    shown = await OutboxRepository(db).announced_summary(summary)
    assert shown is not None
    assert (shown.title, shown.paper_authors, shown.venue, shown.year, shown.score) == (
        "Batch Norm",
        "S. Ioffe, C. Szegedy",
        "ICML",
        2015,
        3,
    )
    assert await OutboxRepository(db).announced_summary(9999) is None


async def test_migration_0010_keeps_pending_rows_and_their_nonces(tmp_path: Path) -> None:
    """Rows written before derived nonces keep the nonce they may have been sent with; one
    already tried counts as possibly delivered since it was written."""
    database = await Database.open(tmp_path / "upgrade.sqlite3")
    try:
        migrations = load_migrations()
        await database.migrate([m for m in migrations if m.version < 10])
        async with database.transaction() as conn:
            await conn.execute(
                "INSERT INTO announcement_outbox (nonce, kind, guild_id, channel_id, text, "
                "attempts, created_at) VALUES ('ss0123456789abcdef0123', 'notice', 1, 10, 'a', "
                "1, 50), ('ssffffffffffffffffffff', 'overflow', 1, 10, 'b', 0, 60)"
            )
        await database.migrate(migrations)
        outbox = OutboxRepository(database)
        tried, untried = await outbox.for_channel(10)
        assert (tried.nonce, tried.first_attempt_at) == ("ss0123456789abcdef0123", 50)
        assert (untried.nonce, untried.first_attempt_at) == ("ssffffffffffffffffffff", None)
        fresh = await outbox.enqueue(kind="notice", guild_id=1, channel_id=10, text="c", now=70)
        assert fresh == untried.id + 1
        assert (await outbox.get(fresh)).nonce.startswith("so")  # type: ignore[union-attr]
    finally:
        await database.close()
