"""Announcements that always go out and cannot deceive (issue 8, items 1 and 4), and the
buttons under them (issue 9): the real bot against the emulator and the local feed server.

The emulator refuses what Discord refuses (an embed URL that is not a well-formed http(s)
URL of at most 2,048 characters, a link button URL over 512), so these tests cannot pass on a
body Discord would reject: the emulator fixture fails any test that sent one.
"""

# Waits take `timeout=` on purpose, as in the emulator's own helpers.

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest

from bot.announce import enqueue_community_announcement
from bot.bot import ShortScienceBot
from bot.papers import PaperId
from bot.storage.community import CommunityRepository, SaveResult
from bot.storage.database import Connection
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from bot.storage.papers import PaperRepository
from tests.e2e.conftest import StartBot
from tests.e2e.test_feeds import command, settle, wait_messages, wait_titles
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.emulator.models import Message
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


Entry = tuple[str, str, str]


async def subscribe_general(
    emulator: DiscordEmulator, feed_server: FeedServer, name: str, *, title: str = "Hostile feed"
) -> tuple[list[Entry], str]:
    """Serve a feed with one old entry as `name` and subscribe #general to it; returns its
    entries (insert new ones at the front and serve them again) and its URL."""
    entries: list[Entry] = [("old", "Old entry", "https://example.org/old")]
    url = feed_server.set_feed(name, rss(entries, title=title))
    await command(emulator, f"/feed add url:{url} channel:#general")
    return entries, url


async def summary_id_of(bot: ShortScienceBot, title: str) -> int:
    """The summary a feed entry with this title became."""
    value = await bot.db.fetchval("SELECT id FROM summaries WHERE title = ?", (title,))
    assert value is not None, title
    return int(value)


@pytest.fixture
async def bot(start_bot: StartBot, emulator: DiscordEmulator, tmp_path: Path) -> ShortScienceBot:
    settings = make_settings(
        emulator, tmp_path / "announce.sqlite3", feed_poll_seconds=1, feed_max_failures=1
    )
    return await start_bot(settings)


async def test_entries_with_links_discord_refuses_are_announced_without_them(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    entries, _url = await subscribe_general(emulator, feed_server, "hostile")
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


# A masked link Discord would make clickable: `[text](url)` with an unescaped `[`.
MASKED_LINK = re.compile(r"(?<!\\)\[([^\[\]]*)\]\(<?(https?://[^)\s>]+)>?\)")
EVIL_TITLE = "[Claim your reward](https://evil.example)"


def clickable_links(text: str) -> list[tuple[str, str]]:
    """(visible text, target) of every masked link Discord would render in `text`."""
    return MASKED_LINK.findall(text)


def honest(text: str) -> bool:
    """Every masked link in `text` shows its real host right after it."""
    for visible, target in clickable_links(text):
        host = target.split("/")[2]
        if f"[{visible}]({target}) ({host})" not in text and visible != target:
            return False
    return True


async def test_feed_titles_and_reason_phrases_never_become_masked_links(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    """Issue 8, item 4: the "...and N more" line names the feed, a pause notice quotes the
    server's HTTP reason phrase; neither may carry a clickable masked link."""
    general = emulator.guild.channel("general")
    entries, _url = await subscribe_general(emulator, feed_server, "evil", title=EVIL_TITLE)
    for number in range(7):
        entries.insert(0, (f"n{number}", f"Entry {number}", f"https://example.org/{number}"))
    feed_server.set_feed("evil", rss(entries, title=EVIL_TITLE))
    await wait_titles(emulator, general, 6)
    overflow = emulator.messages(general)[5].content
    assert "2 more new summaries" in overflow and "Claim your reward" in overflow
    assert clickable_links(overflow) == [], overflow

    feed = (await SubscriptionRepository(bot.db).for_guild(emulator.guild.id))[0].feed
    failing = feed_server.url("/status/500?reason=" + quote(f"Error {EVIL_TITLE}"))
    await FeedRepository(bot.db).move_url(feed.id, failing)
    await FeedRepository(bot.db).make_all_due(0)
    notice = await emulator.wait_for_message(
        general, lambda m: m.content.startswith("⚠️"), timeout=20
    )
    assert "Claim your reward" in notice.content and "HTTP 500" in notice.content
    assert clickable_links(notice.content) == [], notice.content


async def test_a_masked_link_in_a_summary_shows_its_real_host(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    body = "See [the official code](https://evil.example/steal) and <https://arxiv.org/abs/1>."
    entries, _url = await subscribe_general(emulator, feed_server, "plain")
    entries.insert(0, ("new", "New entry", "https://example.org/new"))
    feed_server.set_feed("plain", rss(entries).replace("Text of New entry.", escape(body)))
    [announcement] = await wait_messages(emulator, general, 1)
    assert announcement.embed is not None
    description = announcement.embed["description"]
    assert "the official code" in description and "(evil.example)" in description
    assert honest(description), description

    summary_id = await summary_id_of(bot, "New entry")
    shown = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply()
    assert shown.embed is not None
    assert "(evil.example)" in shown.embed["description"] and honest(shown.embed["description"])


# -- the buttons under announcements (issue 9) ----------------------------------------------


def custom_ids(message: Message) -> list[str]:
    return [b["custom_id"] for b in message.buttons if "custom_id" in b]


async def test_read_opens_the_whole_summary_privately_for_anyone_after_a_restart_too(
    emulator: DiscordEmulator, start_bot: StartBot, feed_server: FeedServer, tmp_path: Path
) -> None:
    settings = make_settings(emulator, tmp_path / "read.sqlite3", feed_poll_seconds=1)
    first = await start_bot(settings)
    general = emulator.guild.channel("general")
    entries, _url = await subscribe_general(emulator, feed_server, "long")
    long_text = "\n\n".join(f"Paragraph {n}. " + "Words and more words. " * 40 for n in range(30))
    entries.insert(0, ("new", "A long one", "https://example.org/new"))
    feed_server.set_feed("long", rss(entries).replace("Text of A long one.", long_text))
    [announcement] = await wait_messages(emulator, general, 1)
    assert announcement.embed is not None
    assert "/summary" not in announcement.embed["description"]  # no hint naming a command
    summary_id = await summary_id_of(first, "A long one")
    [read] = announcement.buttons
    assert read["label"] == "Read" and read["custom_id"].startswith(f"ss:read:{summary_id}:")

    async def read_as(member_name: str) -> Message:
        clicked = await emulator.click(
            announcement, label="Read", member=emulator.guild.member(member_name)
        )
        shown = await clicked.wait_reply(timeout=5)
        assert shown.ephemeral and shown.embed is not None
        assert shown.embed["footer"]["text"].startswith(f"Summary #{summary_id} · page 1 of ")
        assert "Paragraph 0." in shown.embed["description"]
        return shown

    shown = await read_as("alice")
    # Paged, privately: Next turns the page of the reader's own copy.
    turned = await emulator.click(shown, label="Next", member=emulator.guild.member("alice"))
    await turned.wait_callback(timeout=5)
    assert shown.embed is not None and " · page 2 of " in shown.embed["footer"]["text"]
    assert announcement.embed is not None and announcement.embed["title"] == "A long one"

    await first.close()
    await start_bot(settings)
    await read_as("mod")  # the button outlives the process that posted it


async def test_community_announcements_take_votes_and_read(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    papers = emulator.guild.channel("papers")
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    await command(emulator, "/announce channel channel:#papers")

    async def announce(conn: Connection, result: SaveResult) -> None:
        await enqueue_community_announcement(bot.db, result.summary_id, emulator.guild.id, conn)

    saved = await CommunityRepository(bot.db).save(
        paper_id=(
            await PaperRepository(bot.db).find_or_create([PaperId("arxiv", "1502.03167")])
        ).id,
        guild_id=emulator.guild.id,
        author_id=alice.id,
        author_name="Alice",
        title="Batch norm",
        tldr="Normalise each mini-batch.",
        body="The **whole** text.",
        now=time.time(),
        on_saved=announce,
    )
    bot.dispatch("announcement_enqueued")
    [announcement] = await wait_messages(emulator, papers, 1)
    summary_id = saved.summary_id
    assert custom_ids(announcement)[1:] == [
        f"ss:vote:{summary_id}:up",
        f"ss:vote:{summary_id}:down",
    ]
    assert custom_ids(announcement)[0].startswith(f"ss:read:{summary_id}:")
    marker = custom_ids(announcement)[0]

    vote = await emulator.click(announcement, custom_id=f"ss:vote:{summary_id}:up", member=mod)
    assert "You voted 👍" in (await vote.wait_followup()).content
    # The announcement keeps its look and its marker; the counts and the score change.
    assert announcement.embed is not None
    assert announcement.embed["footer"]["text"] == "New community summary"
    assert announcement.embed["fields"][0]["value"] == "▲ 1"
    assert [b.get("label") for b in announcement.buttons] == ["Read", "1", "0"]
    assert custom_ids(announcement)[0] == marker

    own = await emulator.click(announcement, custom_id=f"ss:vote:{summary_id}:up", member=alice)
    assert "your own summary" in (await own.wait_reply()).content
    read = await emulator.click(announcement, label="Read", member=alice)
    shown = await read.wait_reply(timeout=5)
    assert shown.ephemeral and "whole" in (shown.embed or {}).get("description", "")


async def test_the_overflow_line_and_the_pause_notice_have_working_buttons(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    entries, url = await subscribe_general(emulator, feed_server, "many")
    for number in range(7):
        entries.insert(0, (f"n{number}", f"Entry {number}", f"https://example.org/{number}"))
    feed_server.set_feed("many", rss(entries))
    overflow = (await wait_messages(emulator, general, 6))[5]
    assert [b["label"] for b in overflow.buttons] == ["Latest summaries"]
    latest = await emulator.click(
        overflow, label="Latest summaries", member=emulator.guild.member("alice")
    )
    listing = await latest.wait_reply(timeout=5)
    assert listing.ephemeral and listing.embed is not None
    assert listing.embed["title"] == "Latest summaries" and "Entry " in listing.embed["description"]

    subscription = (await SubscriptionRepository(bot.db).for_guild(emulator.guild.id))[0]
    await FeedRepository(bot.db).move_url(subscription.feed.id, feed_server.url("/status/500"))
    await FeedRepository(bot.db).make_all_due(0)
    notice = await emulator.wait_for_message(
        general, lambda m: m.content.startswith("⚠️"), timeout=20
    )
    assert [b["label"] for b in notice.buttons] == ["Resume feed"]
    refused = await emulator.click(
        notice, label="Resume feed", member=emulator.guild.member("alice")
    )
    assert "Manage Server" in (await refused.wait_reply()).content
    await FeedRepository(bot.db).move_url(subscription.feed.id, url)
    resumed = await emulator.click(notice, label="Resume feed", member=emulator.guild.member("mod"))
    reply = await resumed.wait_reply()
    assert reply.ephemeral and f"Resumed feed #{subscription.subscription.id}" in reply.content
