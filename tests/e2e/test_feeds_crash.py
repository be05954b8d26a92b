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
import time

from bot.storage import Database
from tests.e2e.conftest import SpawnBot
from tests.emulator import Channel, DiscordEmulator, Message, Permission
from tests.feedserver import FeedServer, feed_server
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.announce.test_poller import Item, shortscience_rss

# Run on both engines (SQLite, and PostgreSQL on the session's server).
DATABASE_ENGINES = ("sqlite", "postgresql")

__all__ = ["feed_server"]  # the fixture, used by name


def requests_to(emulator: DiscordEmulator, channel_id: int) -> list:
    return emulator.requests_matching(f"POST /channels/{channel_id}/messages")


async def test_a_bot_killed_mid_fan_out_announces_each_entry_once_per_channel_after_restart(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    guild = emulator.guild
    general, papers = guild.channel("general"), guild.channel("papers")
    news = guild.add_text_channel("news")
    database = bot_database
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
    bot_database: str,
) -> None:
    """Issue 8, item 15: the card under a published summary is written with the summary, in
    one transaction, and delivered by the outbox: a kill right after Publish loses nothing."""
    database = bot_database
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


async def _stored_summary_id(database: str) -> int:
    db = await Database.open(database)
    try:
        value = await db.fetchval("SELECT id FROM summaries WHERE origin = 'community'")
    finally:
        await db.close()
    assert value is not None, "the summary was not committed before the kill"
    return int(value)


async def _outbox_rows(database: str) -> list[tuple[str, int | None]]:
    db = await Database.open(database)
    try:
        rows = await db.fetchall("SELECT state, message_id FROM announcement_outbox ORDER BY id")
    finally:
        await db.close()
    return [(str(row[0]), row[1]) for row in rows]


async def _outbox_rows_once_settled(
    database: str, within: float = 10.0
) -> list[tuple[str, int | None]]:
    """The outbox rows once none is pending: a row is marked sent just after Discord
    answered, so a test that saw the message may look a moment too early."""
    deadline = time.monotonic() + within
    while True:
        rows = await _outbox_rows(database)
        if all(state != "pending" for state, _ in rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def kill_after_discord_created_the_message(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    feed_server: FeedServer,
    database: str,
    channel: Channel,
) -> None:
    """Subscribe `channel`, then kill the bot while Discord holds the reply to the send of a
    new entry's announcement: the message exists, the bot never learned it."""
    first = await spawn_bot(database, feed_poll_seconds=1, discord_nonce_window_seconds=2)
    items = [Item("old/1", title="Old")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    handle = await emulator.slash(
        f"/feed add url:{url} channel:#{channel.name}", member=emulator.guild.member("mod")
    )
    assert "Subscribed" in (await handle.wait_reply(timeout=15)).content
    emulator.faults.delay_reply(f"POST /channels/{channel.id}/messages", 30.0, times=1)
    items.insert(0, Item("new/1", title="Fresh"))
    feed_server.set_feed("ss", shortscience_rss(items))
    await emulator.wait_for_message(channel, timeout=15)
    assert await first.kill() == -9


async def test_a_resend_after_the_nonce_window_finds_the_message_instead_of_posting_twice(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    """Issue 8, item 14: Discord remembers a nonce only a few minutes (here 2 s). A row
    whose first send is older than that is looked for in the channel first (its marker is
    in the Read button) and marked sent when found, instead of being posted again."""
    emulator.nonce_window = 2.0
    general = emulator.guild.channel("general")
    database = bot_database
    await kill_after_discord_created_the_message(
        emulator, spawn_bot, feed_server, database, general
    )
    [posted] = emulator.messages(general)
    await asyncio.sleep(3.5)
    emulator.faults.clear()

    await spawn_bot(database, feed_poll_seconds=1, discord_nonce_window_seconds=2)
    await emulator.wait_for(
        lambda: (
            len(requests_to(emulator, general.id)) >= 2
            or emulator.requests_matching(f"GET /channels/{general.id}/messages")
        ),
        timeout=15,
        description="the restarted bot to deal with the unsent row",
    )
    await asyncio.sleep(1.5)  # a second message would come now, if one were coming
    assert [m.id for m in emulator.messages(general)] == [posted.id]
    assert await _outbox_rows(database) == [("sent", posted.id)]


async def test_without_read_message_history_the_row_is_sent_again_never_lost(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    """What the README promises without Read Message History: after the nonce window, a
    message whose fate is unknown is sent again. It may then show twice, never not at all."""
    emulator.nonce_window = 2.0
    general = emulator.guild.channel("general")
    general.permission_overwrites.append(
        {
            "id": str(emulator.bot_user.id),
            "type": 1,
            "allow": "0",
            "deny": str(Permission.READ_MESSAGE_HISTORY),
        }
    )
    database = bot_database
    await kill_after_discord_created_the_message(
        emulator, spawn_bot, feed_server, database, general
    )
    await asyncio.sleep(3.5)
    emulator.faults.clear()
    second = await spawn_bot(database, feed_poll_seconds=1, discord_nonce_window_seconds=2)
    await emulator.wait_for(
        lambda: len(emulator.messages(general)) == 2, timeout=15, description="the resend"
    )
    history = emulator.requests_matching(f"GET /channels/{general.id}/messages")
    assert [r.status for r in history] == [403]
    [(state, message_id)] = await _outbox_rows_once_settled(database)
    assert state == "sent" and message_id == emulator.messages(general)[1].id
    assert "Cannot read the history of channel" in second.output


SENT_WITHIN_SECONDS = 20.0


async def _wait_all_sent(database: str) -> list[tuple[str, int | None]]:
    """The outbox rows once every one is sent (the restarted bot finished them)."""
    deadline = time.monotonic() + SENT_WITHIN_SECONDS
    while True:
        rows = await _outbox_rows(database)
        if rows and all(state == "sent" for state, _ in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox rows still not sent: {rows}")
        await asyncio.sleep(0.2)


async def kill_while_discord_holds_the_answer(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    feed_server: FeedServer,
    database: str,
    *,
    options: str,
    route: str,
    parent: Channel,
) -> list[tuple[str, int | None]]:
    """Subscribe as `options` say, announce a new entry, and kill the bot while Discord
    holds its answer to `route` (a thread or post it made under `parent`, which the bot never
    learns of); then restart the bot on the same database and wait until it is done.
    Returns the outbox rows."""
    first = await spawn_bot(database, feed_poll_seconds=1)
    emulator.faults.delay_reply(route, 30.0, times=1)
    items = [Item("old/1", title="Old")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    handle = await emulator.slash(
        f"/feed add url:{url} {options}", member=emulator.guild.member("mod")
    )
    assert "Subscribed" in (await handle.wait_reply(timeout=15)).content
    items.insert(0, Item("new/1", title="Fresh"))
    feed_server.set_feed("ss", shortscience_rss(items))
    await emulator.wait_for(
        lambda: any(t.parent_id == parent.id for t in emulator.guild.threads),
        timeout=15,
        description="Discord to make the thread (its answer held)",
    )
    assert await first.kill() == -9
    emulator.faults.clear()
    await spawn_bot(database, feed_poll_seconds=1)
    return await _wait_all_sent(database)


async def test_a_bot_killed_while_discord_makes_the_thread_of_an_announcement_makes_it_once(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    """Issue 9: `thread:true` opens one thread per announcement, even when the bot dies
    while Discord holds its answer to the thread request (the thread exists, the bot never
    learned it). The restarted bot reads the message, finds its thread, asks for none."""
    general = emulator.guild.channel("general")
    route = f"POST /channels/{general.id}/messages/*/threads"
    [(state, message_id)] = await kill_while_discord_holds_the_answer(
        emulator, spawn_bot, feed_server, bot_database,
        options="channel:#general thread:true", route=route, parent=general,
    )  # fmt: skip
    [message] = emulator.messages(general)
    [thread] = [t for t in emulator.guild.threads if t.parent_id == general.id]
    assert (state, message_id) == ("sent", message.id)
    assert thread.id == message.id and thread.name == "Fresh"
    assert len(emulator.requests_matching(route)) == 1  # never asked for twice
    assert emulator.requests_matching(f"GET /channels/{general.id}/messages/{message.id}")
    assert len(requests_to(emulator, general.id)) == 1  # the message was sent once


async def test_a_bot_killed_while_discord_makes_a_forum_post_posts_it_once(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    """A forum post takes no nonce: the restarted bot finds the post carrying the row's
    marker among the forum's posts instead of posting again."""
    forum = emulator.guild.add_forum("paper-club")
    route = f"POST /channels/{forum.id}/threads"
    [(state, message_id)] = await kill_while_discord_holds_the_answer(
        emulator, spawn_bot, feed_server, bot_database,
        options="channel:#paper-club", route=route, parent=forum,
    )  # fmt: skip
    [post] = [t for t in emulator.guild.threads if t.parent_id == forum.id]
    assert (state, message_id, post.name) == ("sent", post.id, "Fresh")
    assert [m.embed["title"] for m in emulator.messages(post) if m.embed] == ["Fresh"]
    assert len(emulator.requests_matching(route)) == 1
    assert emulator.requests_matching(f"GET /guilds/{emulator.guild.id}/threads/active")
