"""PostgreSQL down or restarting under a running bot: members are told the database is
unavailable (never "error code"), the background loops back off and carry on, and the
fan-out that the restart cut announces each entry once per channel when it is back."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import SpawnBot, StartBot
from tests.emulator import DiscordEmulator
from tests.feedserver import FeedServer, feed_server
from tests.pgserver import PostgresServer
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name

DATABASE_ENGINES = ("postgresql",)
UNAVAILABLE = "The database is unavailable, try again shortly."


async def test_commands_say_the_database_is_unavailable_then_work_again(
    emulator: DiscordEmulator, start_bot: StartBot, postgres_server: PostgresServer
) -> None:
    await start_bot()
    before = await (await emulator.slash("/latest")).wait_reply(5.0)
    assert UNAVAILABLE not in before.content
    await asyncio.to_thread(postgres_server.stop)
    try:
        for command in ("/latest", "/top", "/feed list"):
            member = emulator.guild.member("mod")
            reply = await (await emulator.slash(command, member=member)).wait_reply(10.0)
            assert reply.ephemeral, command
            assert reply.content == UNAVAILABLE, (command, reply.content)
    finally:
        await asyncio.to_thread(postgres_server.start_again)
    after = await (await emulator.slash("/latest")).wait_reply(10.0)
    assert after.content == before.content


async def test_a_restart_mid_fan_out_announces_each_entry_once_per_channel(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    feed_server: FeedServer,
    postgres_server: PostgresServer,
) -> None:
    guild = emulator.guild
    general, papers = guild.channel("general"), guild.channel("papers")
    news = guild.add_text_channel("news")
    bot = await spawn_bot(feed_poll_seconds=1)

    items = [Item("old/1", title="Old")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    for channel in (general, papers, news):
        handle = await emulator.slash(
            f"/feed add url:{url} channel:#{channel.name}", member=guild.member("mod")
        )
        assert "Subscribed" in (await handle.wait_reply(timeout=15)).content

    # #papers' message is on its way (Discord takes 3 s) when the database goes down: the
    # bot cannot record it sent, and #news' turn has not come.
    emulator.faults.delay(f"POST /channels/{papers.id}/messages", 3.0, times=1)
    emulator.faults.delay(f"POST /channels/{news.id}/messages", 0.5)
    items.insert(0, Item("new/1", title="Fresh"))
    feed_server.set_feed("ss", shortscience_rss(items))
    await emulator.wait_for_message(general, timeout=15)
    await emulator.wait_for(
        lambda: emulator.requests_matching(f"POST /channels/{papers.id}/messages"),
        timeout=10,
        description="the fan-out to be under way in #papers",
    )
    await asyncio.to_thread(postgres_server.stop)
    try:
        held = await emulator.wait_for_message(papers, timeout=10)  # posted meanwhile
        await asyncio.sleep(2.0)  # the loops fail, log and back off
    finally:
        await asyncio.to_thread(postgres_server.start_again)

    await emulator.wait_for_message(news, timeout=30)
    await emulator.wait_for_request(f"POST /channels/{papers.id}/messages", count=2, timeout=30)
    await asyncio.sleep(2.5)  # a poll or two more: nothing new, nothing again
    for channel in (general, papers, news):
        titles = [m.embed["title"] for m in emulator.messages(channel) if m.embed]
        assert titles == ["Fresh"], (channel.name, titles)
    sends = emulator.requests_matching(f"POST /channels/{papers.id}/messages")
    assert sends[0].json["nonce"] == sends[1].json["nonce"]
    assert int(sends[1].response["id"]) == held.id  # Discord returned the first message
    assert "the database is unavailable" in bot.output
    assert bot.returncode is None  # it carried on
