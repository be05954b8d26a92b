"""`migrate-data`: every table copied with its ids, SQLite to PostgreSQL and back; sequences go
on after the copied ids; a non-empty target is refused and left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.papers import PaperId
from bot.storage import Database
from bot.storage.community import CommunityRepository
from bot.storage.feeds import CommunityAnnounceRepository, FeedRepository, SubscriptionRepository
from bot.storage.interactions import InteractionStateRepository
from bot.storage.leases import JobLeaseRepository
from bot.storage.outbox import OutboxRepository
from bot.storage.papers import PaperRepository
from bot.storage.processes import ProcessIdentity, ProcessRegistry
from bot.storage.reading import ReadingRepository
from bot.storage.state import BotStateRepository
from bot.storage.submissions import SubmissionRepository
from bot.storage.summaries import SummaryRepository
from bot.storage.transfer import (
    RUNTIME_TABLES,
    TABLES,
    TransferError,
    copy_database,
    table_names,
)
from tests.databases import DatabaseFactory

GUILD, CHANNEL = 1_097_000_000_000_000_001, 1_097_000_000_000_000_002  # snowflakes: 64-bit


async def fill_every_table(db: Database) -> None:
    """Something in every table, written the way the bot writes it."""
    papers = PaperRepository(db)
    paper = await papers.find_or_create(
        [PaperId("arxiv", "1502.03167"), PaperId("doi", "10.5555/bn")],
        title="Batch Normalization",
        authors="Sergey Ioffe, Christian Szegedy",
        year=2015,
    )
    feed_summary = await SummaryRepository(db).upsert_external(
        external_id="https://www.shortscience.org/paper?bibtexKey=x#alice",
        body="Normalise **each** layer: $\\mu_B$.",
        title="Batch Normalization",
        author_name="alice",
        paper_id=paper.id,
        score=4,
    )
    community = CommunityRepository(db)
    reading = await ReadingRepository(db).create(
        guild_id=GUILD, paper_id=paper.id, channel_id=CHANNEL, thread_id=CHANNEL + 1,
        started_by=7, started_at=1_700_000_000.5, due_at=1_700_900_000.25,
    )  # fmt: skip
    saved = await community.save(
        paper_id=paper.id, guild_id=GUILD, author_id=7, author_name="Bob", title="",
        tldr="Whitening, cheaply.", body="Long text\nwith lines.", now=1_700_000_100.0,
    )  # fmt: skip
    # A moderator's edit: the summary's community_summary_state row (a new one has none).
    await community.update_text(
        saved.summary_id, tldr="Whitening, cheaply.", body="Long text\nwith lines, edited.",
        editor_id=11, now=1_700_000_150.0,
    )  # fmt: skip
    await community.set_vote(feed_summary.summary_id, 8, 1, now=1_700_000_200.0)
    await community.set_vote(saved.summary_id, 9, -1, now=1_700_000_300.0)
    feeds = FeedRepository(db)
    feed_id = await feeds.create(
        "https://example.org/feed.xml", title="Example", site_url=None, now=1.0, next_poll_at=2.5
    )
    subscription = await SubscriptionRepository(db).add(
        feed_id=feed_id, guild_id=GUILD, channel_id=CHANNEL, include_terms='"batch norm"',
        exclude_terms="", mention_role_id=CHANNEL + 5, created_by=7, now=3.0,
    )  # fmt: skip
    await feeds.mark_seen(feed_id, [("identity-1", feed_summary.summary_id)], now=4.0)
    await CommunityAnnounceRepository(db).set(GUILD, CHANNEL, set_by=7, now=5.0)
    outbox = OutboxRepository(db)
    row = await outbox.enqueue(
        kind="summary", guild_id=GUILD, channel_id=CHANNEL, now=6.0,
        subscription_id=subscription, feed_id=feed_id, summary_id=feed_summary.summary_id,
    )  # fmt: skip
    await outbox.mark_sent(row, message_id=CHANNEL + 9, now=7.0)
    await outbox.enqueue(kind="notice", guild_id=GUILD, channel_id=CHANNEL, now=8.0, text="hi")
    await BotStateRepository(db).claim_seed(now=9.0)
    # A draft in progress and a publication the rate limit counts.
    await InteractionStateRepository(db).create(
        "draft", owner_id=7, guild_id=GUILD, payload={"tldr": "Whitening, cheaply."},
        now=1_700_000_400.5, lifetime=840.0,
    )  # fmt: skip
    await SubmissionRepository(db).record(7, limit=3, window=600.0, now=1_700_000_100.0)
    # A poll recorded under a lease, and a scheduled job's lease.
    assert await feeds.claim(feed_id, "host-1-abc", now=10.0, lease_seconds=60.0)
    async with db.transaction() as conn:
        await feeds.end_lease(feed_id, "host-1-abc", outcome="unchanged", now=10.5, conn=conn)
    assert await JobLeaseRepository(db).try_start(
        "reading reminders", "host-1-abc", now=11.0, every=60.0, lease_seconds=60.0
    )
    assert reading.id == 1


async def table_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    rows = {}
    for table, order in TABLES:
        fetched = await db.fetchall(f"SELECT * FROM {table} ORDER BY {', '.join(order)}")
        rows[table] = [tuple(row) for row in fetched]
    return rows


async def test_sqlite_to_postgresql_and_back_copies_every_row_with_its_ids(
    tmp_path: Path, postgres_databases: DatabaseFactory
) -> None:
    source = await Database.open(tmp_path / "old.sqlite3")
    try:
        await source.migrate()
        await fill_every_table(source)
        before = await table_rows(source)
        assert all(before.values()), [t for t, rows in before.items() if not rows]
        assert await table_names(source) == {table for table, _ in TABLES} | RUNTIME_TABLES
        # A process registered on the old database is not carried over.
        await ProcessRegistry(source, expiry=30).register(
            ProcessIdentity("p1", "host", 1, "1.0", 1.0), shard_count=1, shards=[], now=1.0
        )

        target = await postgres_databases.open(migrated=False)
        progress: list[tuple[int, int]] = []
        report = await copy_database(source, target, progress=lambda *p: progress.append(p))
        assert report.rows == {table: len(rows) for table, rows in before.items()}
        assert progress[-1] == (report.total, report.total)
        assert await table_rows(target) == before
        assert await target.fetchval("SELECT count(*) FROM bot_processes") == 0

        # New rows continue after the copied ids, and the triggers work again.
        summaries = SummaryRepository(target)
        newer = await summaries.upsert_external(external_id="new", body="After the copy.")
        assert newer.summary_id == max(row[0] for row in before["summaries"]) + 1
        last_seq = max(row[0] for row in before["search_changes"])
        assert await target.fetchval("SELECT max(seq) FROM search_changes") == last_seq + 1
        kept = await OutboxRepository(target).nonce_salt()
        assert kept == await OutboxRepository(source).nonce_salt()  # nonces stay the same

        # And back to a new SQLite file: the same rows again.
        back = await Database.open(tmp_path / "back.sqlite3")
        try:
            await copy_database(target, back)
            assert {t: r for t, r in (await table_rows(back)).items()} == await table_rows(target)
        finally:
            await back.close()
    finally:
        await source.close()


async def test_a_target_with_data_is_refused_and_left_alone(
    tmp_path: Path, postgres_databases: DatabaseFactory
) -> None:
    source = await Database.open(tmp_path / "old.sqlite3")
    try:
        await source.migrate()
        await fill_every_table(source)
        target = await postgres_databases.open()
        await SummaryRepository(target).upsert_external(external_id="mine", body="Already here.")
        with pytest.raises(TransferError, match="not empty"):
            await copy_database(source, target)
        assert await target.fetchval("SELECT count(*) FROM summaries") == 1
        assert await target.fetchval("SELECT count(*) FROM papers") == 0
    finally:
        await source.close()


async def test_copying_a_database_onto_itself_is_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "same.sqlite3")
    try:
        with pytest.raises(TransferError, match="same database"):
            await copy_database(db, db)
    finally:
        await db.close()
