"""Exactly-once delivery across a hard kill: the real entry point (`python -m bot run`) is
killed with SIGKILL in the middle of a fan-out, then restarted on the same database.

At the moment of the kill one channel has its announcement, Discord is still holding the
request for a second (it creates the message after the bot died, so the bot never learned
it was sent), and the third was rate-limited (never sent). After the restart every channel
has the announcement exactly once: the second because the resend carries the same nonce and
the emulator, like Discord, answers with the message it already created.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database
from tests.e2e.conftest import SpawnBot
from tests.emulator import Channel, DiscordEmulator, Message
from tests.feedserver import FeedServer, feed_server
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name


def requests_to(emulator: DiscordEmulator, channel_id: int) -> list:
    return emulator.requests_matching(f"POST /channels/{channel_id}/messages")


async def test_a_bot_killed_mid_fan_out_announces_each_entry_once_per_channel_after_restart(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, tmp_path: Path
) -> None:
    guild = emulator.guild
    general, papers = guild.channel("general"), guild.channel("papers")
    news = guild.add_text_channel("news")
    database = tmp_path / "crash.sqlite3"
    first = await spawn_bot(database, feed_poll_seconds=1)

    items = [Item("old/1", title="Old")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    for channel in (general, papers, news):
        handle = await emulator.slash(
            f"/feed add url:{url} channel:#{channel.name}", member=guild.member("mod")
        )
        assert "Subscribed" in (await handle.wait_reply(timeout=15)).content

    emulator.faults.delay(f"POST /channels/{papers.id}/messages", 3.0, times=1)
    emulator.faults.rate_limit(f"POST /channels/{news.id}/messages", times=1, retry_after=60)
    items.insert(0, Item("new/1", title="Fresh"))
    feed_server.set_feed("ss", shortscience_rss(items))

    await emulator.wait_for_message(general, timeout=15)
    await emulator.wait_for(
        lambda: (
            requests_to(emulator, papers.id)
            and [r.status for r in requests_to(emulator, news.id)] == [429]
        ),
        timeout=10,
        description="the fan-out to be under way in #papers and #news",
    )
    assert await first.kill() == -9
    held = await emulator.wait_for_message(papers, timeout=10)  # created after the bot died
    assert emulator.messages(news) == []

    emulator.faults.clear()
    await spawn_bot(database, feed_poll_seconds=1)
    await emulator.wait_for_message(news, timeout=15)
    await emulator.wait_for_request(f"POST /channels/{papers.id}/messages", count=2, timeout=15)

    for channel in (general, papers, news):
        titles = [m.embed["title"] for m in emulator.messages(channel) if m.embed]
        assert titles == ["Fresh"], (channel.name, titles)
    sends = requests_to(emulator, papers.id)
    assert sends[0].json["nonce"] == sends[1].json["nonce"]
    assert int(sends[1].response["id"]) == held.id  # Discord returned the first message


@pytest.fixture
async def arxiv() -> AsyncIterator[ArxivFixtureServer]:
    server = ArxivFixtureServer()
    await server.start()
    yield server
    await server.close()


def cards_of(emulator: DiscordEmulator, channel: Channel, summary_id: int) -> list[Message]:
    """Messages in `channel` carrying the vote buttons of `summary_id`."""
    wanted = f"ss:vote:{summary_id}:up"
    return [
        m
        for m in emulator.messages(channel)
        if any(b.get("custom_id") == wanted for b in m.buttons)
    ]


async def test_a_bot_killed_right_after_publish_still_posts_the_vote_card_once(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    arxiv: ArxivFixtureServer,
    tmp_path: Path,
) -> None:
    """Issue 8, item 15: the card under a published summary is written with the summary, in
    one transaction, and delivered by the outbox: a kill right after Publish loses nothing."""
    database = tmp_path / "publish.sqlite3"
    settings = {"arxiv_api_url": arxiv.url, "arxiv_min_interval": 0}
    first = await spawn_bot(database, **settings)
    general = emulator.guild.channel("general")
    alice = emulator.guild.member("alice")
    opened = await emulator.slash("/summarize paper:1502.03167", member=alice, channel=general)
    await opened.wait_modal(timeout=10)
    submitted = await emulator.submit_modal(
        opened, {"paper": "1502.03167", "tldr": "Normalise per batch.", "body": "Text."}
    )
    preview = await submitted.wait_reply(timeout=15)
    # Hold the "Published" edit of the preview: the bot dies while Discord holds it, after
    # the summary was committed.
    edits = "PATCH /webhooks/{app}/{token}/messages/@original"
    before = len(emulator.requests_matching(edits))
    emulator.faults.delay(edits, 5.0, times=1)
    await emulator.click(preview, label="Publish", member=alice)
    await emulator.wait_for(
        lambda: len(emulator.requests_matching(edits)) > before,
        timeout=15,
        description="the bot to edit the preview after publishing",
    )
    assert await first.kill() == -9
    summary_id = int(await _stored_summary_id(database))

    await spawn_bot(database, **settings)
    await emulator.wait_for(
        lambda: cards_of(emulator, general, summary_id),
        timeout=15,
        description="the card of the published summary",
    )
    await asyncio.sleep(1.5)  # a second card would come now, if one were coming
    assert len(cards_of(emulator, general, summary_id)) == 1


async def _stored_summary_id(database: Path) -> int:
    db = await Database.open(database)
    try:
        value = await db.fetchval("SELECT id FROM summaries WHERE origin = 'community'")
    finally:
        await db.close()
    assert value is not None, "the summary was not committed before the kill"
    return int(value)
