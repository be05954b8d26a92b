"""`/feed add` cannot make the bot fetch from its own network (production setting)."""

from __future__ import annotations

from pathlib import Path

from bot.storage.feeds import SubscriptionRepository
from tests.e2e.conftest import StartBot
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name


async def test_feed_add_refuses_private_addresses(
    start_bot: StartBot, emulator: DiscordEmulator, feed_server: FeedServer, tmp_path: Path
) -> None:
    settings = make_settings(emulator, tmp_path / "db.sqlite3", allow_private_urls=False)
    bot = await start_bot(settings)
    url = feed_server.set_feed("internal", shortscience_rss([Item("k/1")]))
    mod = emulator.guild.member("mod")
    # Loopback by name, and through NAT64, 6to4 and IPv4-compatible IPv6 addresses.
    disguises = ["localhost", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[::7f00:1]"]
    for target in [url, *(url.replace("127.0.0.1", host) for host in disguises)]:
        handle = await emulator.slash(f"/feed add url:{target}", member=mod)
        reply = await handle.wait_reply(timeout=15)
        assert reply.ephemeral
        assert "private or local" in reply.content
    assert await SubscriptionRepository(bot.db).count_for_guild(emulator.guild.id) == 0
    assert feed_server.requests.get("/dynamic/internal", 0) == 0
