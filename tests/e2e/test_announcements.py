"""Announcements that always go out and cannot deceive (issue 8, items 1 and 4), and the
buttons under them (issue 9): the real bot against the emulator and the local feed server.

The emulator refuses what Discord refuses (an embed URL that is not a well-formed http(s)
URL of at most 2,048 characters, a link button URL over 512), so these tests cannot pass on a
body Discord would reject: the emulator fixture fails any test that sent one.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from bot.bot import ShortScienceBot
from bot.storage.feeds import SubscriptionRepository
from tests.e2e.conftest import StartBot
from tests.e2e.test_feeds import command, settle, wait_titles
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture, used by name

# Links Discord refuses as an embed URL (issue 8, item 1), and ones too long for a button.
BAD_LINKS = [
    "javascript:alert(1)",
    "data:text/html,hello",
    "ftp://example.org/paper.pdf",
    "https://",
    "http://?x",
    "http://exa mple.com",
    "http://[::1",
    "http://a..b/",
]
LONG_LINK = "https://example.org/" + "x" * 1000  # fine for an embed, too long for a button


def rss(entries: list[tuple[str, str, str]], *, title: str = "Hostile feed") -> str:
    """An RSS 2.0 feed of (guid, title, link) entries, newest first."""
    items = "".join(
        f'<item><guid isPermaLink="false">{escape(guid)}</guid><title>{escape(name)}</title>'
        f"<link>{escape(link)}</link><description>Text of {escape(name)}.</description></item>"
        for guid, name, link in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>d</description>{items}</channel></rss>"
    )


@pytest.fixture
async def bot(start_bot: StartBot, emulator: DiscordEmulator, tmp_path: Path) -> ShortScienceBot:
    settings = make_settings(emulator, tmp_path / "announce.sqlite3", feed_poll_seconds=1)
    return await start_bot(settings)


async def test_entries_with_links_discord_refuses_are_announced_without_them(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    entries = [("old", "Old entry", "https://example.org/old")]
    url = feed_server.set_feed("hostile", rss(entries))
    await command(emulator, f"/feed add url:{url} channel:#general")
    links = [*BAD_LINKS, LONG_LINK]
    expected = []
    # Four at a time: at most five announcements per poll, the rest become one line.
    for start in range(0, len(links), 4):
        for offset, link in enumerate(links[start : start + 4]):
            number = start + offset
            entries.insert(0, (f"bad-{number}", f"Bad link {number}", link))
            expected.append(f"Bad link {number}")
        feed_server.set_feed("hostile", rss(entries))
        await wait_titles(emulator, general, len(expected))
    await settle(bot)
    messages = emulator.messages(general)
    assert sorted(m.embed["title"] for m in messages if m.embed) == sorted(expected)
    for message in messages:
        assert message.embed is not None
        title = message.embed["title"]
        if title == f"Bad link {len(links) - 1}":
            assert message.embed["url"] == LONG_LINK  # long, but a valid embed URL
        else:
            assert "url" not in message.embed, (title, message.embed.get("url"))

    # /feed test of an entry with a refused link posts it too, never "error code".
    number = (await SubscriptionRepository(bot.db).for_guild(emulator.guild.id))[0].subscription.id
    entries.insert(0, ("bad-test", "Bad link for the test", "javascript:void(0)"))
    feed_server.set_feed("hostile", rss(entries))
    reply = await command(emulator, f"/feed test feed:{number}")
    assert "Posted a test announcement" in reply.content, reply.content
    assert "error code" not in reply.content
    test_message = emulator.messages(general)[-1]
    assert test_message.embed is not None and "url" not in test_message.embed
