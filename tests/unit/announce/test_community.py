"""Cards and announcements of community summaries: which outbox rows a save writes."""

from __future__ import annotations

import pytest

from bot.announce.community import SummaryCard, enqueue_summary_cards
from bot.storage import Database
from bot.storage.feeds import CommunityAnnounceRepository
from bot.storage.outbox import OutboxRepository
from bot.storage.summaries import SummaryRepository
from tests.databases import DatabaseFactory

GUILD, HERE, ANNOUNCE = 1, 10, 20


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def queued(db: Database, card: SummaryCard) -> dict[int, list[str | None]]:
    async with db.transaction() as conn:
        await enqueue_summary_cards(db, card, conn, now=0)
    outbox = OutboxRepository(db)
    return {
        channel: [row.text for row in await outbox.for_channel(channel)]
        for channel in (HERE, ANNOUNCE)
    }


async def summary_id(db: Database) -> int:
    saved = await SummaryRepository(db).upsert_external(external_id="x", body="b")
    return saved.summary_id


@pytest.mark.parametrize(
    ("channel_id", "announce", "announce_channel", "expected"),
    [
        (HERE, True, ANNOUNCE, {HERE: ["h"], ANNOUNCE: ["h"]}),
        # Written in the /announce channel itself: one message, not two.
        (ANNOUNCE, True, ANNOUNCE, {HERE: [], ANNOUNCE: ["h"]}),
        (HERE, True, None, {HERE: ["h"], ANNOUNCE: []}),
        # An edit is not announced again.
        (HERE, False, ANNOUNCE, {HERE: ["h"], ANNOUNCE: []}),
        # The bot cannot post where it was written: the announcement still goes.
        (None, True, ANNOUNCE, {HERE: [], ANNOUNCE: ["h"]}),
    ],
)
async def test_the_card_and_the_announcement(
    db: Database,
    channel_id: int | None,
    announce: bool,
    announce_channel: int | None,
    expected: dict[int, list[str]],
) -> None:
    if announce_channel is not None:
        await CommunityAnnounceRepository(db).set(GUILD, announce_channel, set_by=None, now=0)
    card = SummaryCard(await summary_id(db), GUILD, channel_id, "h", announce=announce)
    assert await queued(db, card) == expected


async def test_a_disabled_announce_channel_gets_nothing(db: Database) -> None:
    repo = CommunityAnnounceRepository(db)
    await repo.set(GUILD, ANNOUNCE, set_by=None, now=0)
    await repo.disable_channel(ANNOUNCE, "forbidden")
    card = SummaryCard(await summary_id(db), GUILD, HERE, "h", announce=True)
    assert await queued(db, card) == {HERE: ["h"], ANNOUNCE: []}


async def test_the_card_comes_before_the_announcement_and_only_this_guilds_counts(
    db: Database,
) -> None:
    repo = CommunityAnnounceRepository(db)
    await repo.set(GUILD + 1, HERE + 1, set_by=None, now=0)  # another guild's channel
    await repo.set(GUILD, ANNOUNCE, set_by=None, now=0)
    card = SummaryCard(await summary_id(db), GUILD, HERE, "h", announce=True)
    async with db.transaction() as conn:
        assert await enqueue_summary_cards(db, card, conn, now=0) == 2
    outbox = OutboxRepository(db)
    [card_row] = await outbox.for_channel(HERE)
    [announcement] = await outbox.for_channel(ANNOUNCE)
    assert card_row.id < announcement.id  # sent in this order: the card where it was written
    assert await outbox.for_channel(HERE + 1) == []
