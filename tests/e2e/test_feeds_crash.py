"""Exactly-once delivery across a hard kill: the real entry point (`python -m bot run`) is
killed with SIGKILL in the middle of a fan-out, then restarted on the same database.

At the moment of the kill one channel has its announcement, Discord is still holding the
request for a second (it creates the message after the bot died, so the bot never learned
it was sent), and the third was rate-limited (never sent). After the restart every channel
has the announcement exactly once: the second because the resend carries the same nonce and
the emulator, like Discord, answers with the message it already created.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import SpawnBot
from tests.emulator import DiscordEmulator
from tests.feedserver import FeedServer, feed_server
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
