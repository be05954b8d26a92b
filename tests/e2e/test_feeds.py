"""Feeds end to end: the real bot against the Discord emulator and the local feed server.

The bot polls every second (FEED_POLL_SECONDS=1); tests wait for what they expect to see,
and use the cog's `poll_now()` plus a drain of the outbox before asserting that something
did *not* happen.
"""

# Waits take `timeout=` on purpose, as in the emulator's own helpers.
# ruff: noqa: ASYNC109

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import cast

import pytest

from bot.announce import enqueue_community_announcement
from bot.announce.poller import FetchLimits
from bot.bot import ShortScienceBot
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from bot.storage.summaries import SummaryRepository
from cogs.feeds import FeedsCog
from tests.e2e.conftest import StartBot
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.emulator.models import Channel, Member, Message
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import Item, shortscience_rss

# Run on both engines (SQLite, and PostgreSQL on the session's server).
DATABASE_ENGINES = ("sqlite", "postgresql")

__all__ = ["feed_server"]  # the fixture, used by name

FRESH_DATE = "Wed, 15 Mar 2017 09:00:00 +0000"


@pytest.fixture
async def bot(start_bot: StartBot, emulator: DiscordEmulator, bot_database: str) -> ShortScienceBot:
    settings = make_settings(
        emulator,
        bot_database,
        feed_poll_seconds=1,
        feed_max_failures=3,
        feeds_per_guild=3,
    )
    return await start_bot(settings)


def feeds_cog(bot: ShortScienceBot) -> FeedsCog:
    cog = bot.get_cog("FeedsCog")
    # load_extension imports its own copy of the module, so isinstance cannot be used.
    assert cog is not None and type(cog).__name__ == "FeedsCog"
    return cast(FeedsCog, cog)


def moderator(emulator: DiscordEmulator) -> Member:
    return emulator.guild.member("mod")


async def command(
    emulator: DiscordEmulator, line: str, *, member: Member | None = None, **options: object
) -> Message:
    """Run a slash command as the moderator (or `member`) and return the visible reply."""
    handle = await emulator.slash(line, options or None, member=member or moderator(emulator))
    return await handle.wait_reply(timeout=15)


async def settle(bot: ShortScienceBot) -> None:
    """Poll every feed now and send everything queued, so absences can be asserted."""
    cog = feeds_cog(bot)
    await cog.poll_now(all_feeds=True)
    await cog.sender.drain()


def announcements(emulator: DiscordEmulator, channel: Channel) -> list[str]:
    """Titles of the announcement embeds (or the text of plain messages) in a channel."""
    return [m.embed["title"] if m.embed else m.content for m in emulator.messages(channel)]


def listed_titles(message: Message) -> list[str]:
    """The titles of a `/latest` or `/top` list, in order."""
    assert message.embed is not None
    return re.findall(r"^\*\*\d+\.\*\* \[([^\]]+)\]", message.embed["description"], re.M)


def summary_id_in(message: Message) -> int:
    """The summary an announcement's Read button opens."""
    read = message.find_component(label="Read")
    match = re.fullmatch(r"ss:read:(\d+):\w+", read["custom_id"])
    assert match is not None, read
    return int(match.group(1))


async def wait_messages(
    emulator: DiscordEmulator, channel: Channel, count: int, timeout: float = 15
) -> list[Message]:
    """The messages of `channel` once there are at least `count`."""
    await emulator.wait_for(
        lambda: len(emulator.messages(channel)) >= count,
        timeout=timeout,
        description=f"{count} messages in #{channel.name}",
    )
    return emulator.messages(channel)


async def wait_titles(
    emulator: DiscordEmulator, channel: Channel, count: int, timeout: float = 15
) -> list[str]:
    await wait_messages(emulator, channel, count, timeout)
    return announcements(emulator, channel)


async def test_a_new_item_is_announced_once_in_each_subscribed_channel(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general, papers = emulator.guild.channel("general"), emulator.guild.channel("papers")
    items = [Item("old/1", title="Old paper"), Item("old/2", title="Older paper")]
    url = feed_server.set_feed("ss", shortscience_rss(items))

    reply = await command(emulator, f"/feed add url:{url} channel:#general")
    assert "Subscribed <#" in reply.content and "2 current entries count as seen" in reply.content
    assert reply.ephemeral
    reply = await command(emulator, f"/feed add url:{url} channel:#papers")
    assert "Subscribed" in reply.content
    await settle(bot)
    assert announcements(emulator, general) == announcements(emulator, papers) == []

    items.insert(0, Item("new/1", title="Fresh paper", date=FRESH_DATE, votes=7))
    feed_server.set_feed("ss", shortscience_rss(items))
    assert await wait_titles(emulator, general, 1) == ["Fresh paper"]
    assert await wait_titles(emulator, papers, 1) == ["Fresh paper"]
    await settle(bot)
    assert announcements(emulator, general) == announcements(emulator, papers) == ["Fresh paper"]

    embed = emulator.messages(general)[0].embed
    assert embed is not None
    assert embed["author"]["name"] == "Summary by alice"
    assert embed["fields"][0]["value"] == "▲ 7"
    assert embed["footer"]["text"] == "ShortScience.org"
    assert embed["url"].endswith("new/1#alice")
    sends = emulator.requests_matching("POST /channels/*/messages")
    nonces = [request.json["nonce"] for request in sends]
    assert len(set(nonces)) == 2 and all(len(n) <= 25 for n in nonces)
    assert all(request.json["enforce_nonce"] is True for request in sends)
    assert all(request.json["allowed_mentions"] == {"parse": []} for request in sends)

    # An edit (ShortScience moves pubDate and changes the text) updates, never re-announces.
    items[0] = Item(
        "new/1", title="Fresh paper", body="Edited text.", date="Fri, 1 Jan 2021 00:00:00 +0000"
    )
    feed_server.set_feed("ss", shortscience_rss(items))
    await settle(bot)
    assert announcements(emulator, general) == ["Fresh paper"]
    summary_id = summary_id_in(emulator.messages(general)[0])
    stored = await SummaryRepository(bot.db).get(summary_id)
    assert stored is not None and stored.body == "Edited text."


async def test_entries_without_guid_link_or_title_are_each_stored_and_announced(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    texts = ["The first notice."]

    def bare() -> str:  # valid RSS 2.0: an item needs only a title or a description
        items = "".join(f"<item><description>{text}</description></item>" for text in texts)
        return f'<rss version="2.0"><channel><title>Notices</title>{items}</channel></rss>'

    url = feed_server.set_feed("bare", bare())
    assert (
        "Subscribed" in (await command(emulator, f"/feed add url:{url} channel:#general")).content
    )
    texts[:0] = [f"Notice number {n}." for n in range(5, 0, -1)]  # newest first
    feed_server.set_feed("bare", bare())
    await wait_titles(emulator, general, 5)
    await settle(bot)
    messages = emulator.messages(general)
    assert len(messages) == 5
    assert [m.embed["description"].split("\n")[0] for m in messages if m.embed] == [
        f"Notice number {n}." for n in range(1, 6)
    ]
    feed = await FeedRepository(bot.db).get_by_url(url)
    assert feed is not None and await FeedRepository(bot.db).seen_count(feed.id) == 6


async def test_filters_and_the_role_mention(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    papers = emulator.guild.channel("papers")
    role = emulator.guild.role("Moderator")
    items = [Item("old/1")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    reply = await command(
        emulator,
        f'/feed add url:{url} channel:#papers include:vision "image net" exclude:survey',
        mention_role=role,
    )
    assert 'Only entries mentioning any of: `vision "image net"`' in reply.content
    items[:0] = [
        Item("n/1", title="A vision survey"),
        Item("n/2", title="Language models"),
        Item("n/3", title="Deep nets", body="Trained on Image Net."),
        Item("n/4", title="Computer vision", user="bob"),
    ]
    feed_server.set_feed("ss", shortscience_rss(items))
    assert await wait_titles(emulator, papers, 2) == ["Computer vision", "Deep nets"]
    await settle(bot)
    assert len(emulator.messages(papers)) == 2
    message = emulator.messages(papers)[0]
    assert message.content == f"<@&{role.id}>"
    sends = emulator.requests_matching(f"POST /channels/{papers.id}/messages")
    allowed = sends[0].json["allowed_mentions"]
    assert allowed["parse"] == [] and [int(r) for r in allowed["roles"]] == [role.id]


async def test_at_most_five_per_poll_then_one_line_pointing_to_latest(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    url = feed_server.set_feed("ss", shortscience_rss([Item("old/1")]))
    await command(emulator, f"/feed add url:{url} channel:#general")
    fresh = [
        Item(f"n/{n}", title=f"Paper {n}", date=f"Wed, 15 Mar 2017 09:{n:02d}:00 +0000")
        for n in range(8)
    ]
    feed_server.set_feed("ss", shortscience_rss([*reversed(fresh), Item("old/1")]))
    shown = await wait_titles(emulator, general, 6)
    assert shown[:5] == [f"Paper {n}" for n in range(3, 8)]
    assert "3 more new summaries" in shown[5] and "/latest" in shown[5]
    await settle(bot)
    assert len(emulator.messages(general)) == 6


@pytest.mark.parametrize("problem", ["forbidden", "deleted"])
async def test_a_forbidden_or_deleted_channel_disables_its_subscription(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer, problem: str
) -> None:
    general, papers = emulator.guild.channel("general"), emulator.guild.channel("papers")
    items = [Item("old/1")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    await command(emulator, f"/feed add url:{url} channel:#general")
    await command(emulator, f"/feed add url:{url} channel:#papers")
    if problem == "forbidden":
        papers.forbid(50013)
    else:
        emulator.guild.remove_channel(papers)
    items.insert(0, Item("n/1", title="Fresh"))
    feed_server.set_feed("ss", shortscience_rss(items))
    assert await wait_titles(emulator, general, 1) == ["Fresh"]
    await settle(bot)
    subscriptions = await SubscriptionRepository(bot.db).for_guild(emulator.guild.id)
    states = {s.subscription.channel_id: s.subscription.disabled_reason for s in subscriptions}
    assert states[general.id] is None
    expected = "forbidden (403" if problem == "forbidden" else "gone (404"
    assert expected in (states[papers.id] or "")
    listing = await command(emulator, "/feed list")
    assert listing.embed is not None and "⛔ disabled" in listing.embed["description"]

    # Later entries still reach the healthy channel; the disabled one is not tried again.
    tries = len(emulator.requests_matching(f"POST /channels/{papers.id}/messages"))
    items.insert(0, Item("n/2", title="Fresher"))
    feed_server.set_feed("ss", shortscience_rss(items))
    assert await wait_titles(emulator, general, 2) == ["Fresh", "Fresher"]
    await settle(bot)
    assert len(emulator.requests_matching(f"POST /channels/{papers.id}/messages")) == tries


async def test_a_429_storm_during_fan_out_delays_but_loses_nothing(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general, papers = emulator.guild.channel("general"), emulator.guild.channel("papers")
    items = [Item("old/1")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    await command(emulator, f"/feed add url:{url} channel:#general")
    await command(emulator, f"/feed add url:{url} channel:#papers")
    # More 429s than discord.py retries on its own: the outbox has to retry the rest.
    storm = emulator.faults.rate_limit(
        "POST /channels/{channel_id}/messages", times=14, retry_after=0.05, global_=True
    )
    fresh = [
        Item(f"n/{n}", title=f"Paper {n}", date=f"Wed, 15 Mar 2017 09:0{n}:00 +0000")
        for n in range(3)
    ]
    feed_server.set_feed("ss", shortscience_rss([*reversed(fresh), *items]))
    expected = ["Paper 0", "Paper 1", "Paper 2"]
    assert await wait_titles(emulator, general, 3, timeout=30) == expected
    assert await wait_titles(emulator, papers, 3, timeout=30) == expected
    assert storm.hits == 14
    await settle(bot)
    assert announcements(emulator, general) == announcements(emulator, papers) == expected


async def test_failures_pause_the_feed_with_one_notice_and_resume_brings_it_back(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    items = [Item("old/1")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    await command(emulator, f"/feed add url:{url} channel:#general")
    feed_server.set_feed("ss", b"Not a feed at all.", content_type="text/plain")
    cog = feeds_cog(bot)
    # Backoff would wait minutes between tries; poll_now(all_feeds=True) does not wait.
    for _ in range(2):
        await cog.poll_now(all_feeds=True)
    listing = await command(emulator, "/feed list")
    assert listing.embed is not None
    assert "failing (2 polls in a row)" in listing.embed["description"]
    assert "last error" in listing.embed["description"]
    await cog.poll_now(all_feeds=True)
    notice = (await wait_titles(emulator, general, 1))[0]
    assert "paused the feed" in notice and "3 polls in a row failed" in notice
    assert "`/feed resume`" in notice
    await settle(bot)
    assert len(emulator.messages(general)) == 1  # one notice, and no more polls
    listing = await command(emulator, "/feed list")
    assert listing.embed is not None and "paused by the bot" in listing.embed["description"]

    items.insert(0, Item("n/1", title="Back again"))
    feed_server.set_feed("ss", shortscience_rss(items))
    subscription = (await SubscriptionRepository(bot.db).for_guild(emulator.guild.id))[0]
    reply = await command(emulator, f"/feed resume feed:{subscription.subscription.id}")
    assert "poll it again right away" in reply.content
    assert (await wait_titles(emulator, general, 2))[1] == "Back again"


async def test_feed_add_offers_the_feeds_an_html_page_links_to(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    papers = emulator.guild.channel("papers")
    feed_url = feed_server.set_feed("ss", shortscience_rss([Item("old/1")]))
    page = (
        "<!DOCTYPE html><html><head><title>Blog</title>"
        '<link rel="alternate" type="application/rss+xml" title="Summaries" href="/dynamic/ss">'
        '<link rel="alternate" type="application/atom+xml" title="Other" href="/dynamic/none">'
        "</head><body>hi</body></html>"
    )
    page_url = feed_server.set_feed("page", page, content_type="text/html; charset=utf-8")
    reply = await command(emulator, f"/feed add url:{page_url} channel:#papers")
    assert "links to 2 feeds" in reply.content
    options = [
        o["label"] for c in reply.iter_components() if c.get("type") == 3 for o in c["options"]
    ]
    assert options == ["Summaries", "Other"]

    # Only the person who ran /feed add may choose.
    other = await emulator.select(reply, ["0"], member=emulator.guild.member("alice"))
    refusal = await other.wait_reply(timeout=5)
    assert refusal.ephemeral and "belong to the person who ran the command" in refusal.content

    chosen = await emulator.select(reply, ["0"], member=moderator(emulator))
    await chosen.wait_for(
        lambda h: h.original is not None and "Subscribed" in h.original.content,
        timeout=15,
        what="the subscription confirmation",
    )
    subscriptions = await SubscriptionRepository(bot.db).for_guild(emulator.guild.id)
    assert [(s.feed.url, s.subscription.channel_id) for s in subscriptions] == [
        (feed_url, papers.id)
    ]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/fixtures/garbage.txt", "not"),
        ("/status/404", "404"),
        ("/status/410", "410 Gone"),
        ("/empty", "empty"),
        ("/loop/a", "redirect"),
    ],
)
async def test_feed_add_refuses_what_is_not_a_feed_with_the_reason(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer, path: str, reason: str
) -> None:
    reply = await command(emulator, f"/feed add url:{feed_server.url(path)}")
    assert reason in reply.content and reply.ephemeral
    assert await SubscriptionRepository(bot.db).count_for_guild(emulator.guild.id) == 0


async def test_feed_add_refuses_what_is_not_a_web_address_in_one_sentence(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    for typed in ("not a url", "hello", "http://"):
        reply = await command(emulator, "/feed add", url=typed)
        assert reply.ephemeral
        assert reply.content == (
            f"“{typed}” is not a web address: give the feed's URL, such as "
            "`https://www.shortscience.org/rss.xml`."
        )
    assert await SubscriptionRepository(bot.db).count_for_guild(emulator.guild.id) == 0
    assert not emulator.requests_matching("POST /webhooks/**")  # answered at once, no "thinking"


async def test_counts_are_written_with_the_right_plural(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    url = feed_server.set_feed("one", shortscience_rss([Item("only/1")]))
    reply = await command(emulator, f"/feed add url:{url} channel:#general")
    assert "Its 1 current entry counts as seen; new ones will be announced there" in reply.content
    assert "(checked every 1 second)" in reply.content
    feed_server.set_feed("one", b"Not a feed at all.", content_type="text/plain")
    await feeds_cog(bot).poll_now(all_feeds=True)
    listing = await command(emulator, "/feed list")
    assert listing.embed is not None
    assert "failing (1 poll in a row)" in listing.embed["description"]


@pytest.mark.parametrize("host", ["a..b", ".invalid", "a" * 1990])
async def test_feed_add_refuses_a_malformed_host_name_clearly(
    emulator: DiscordEmulator, bot: ShortScienceBot, host: str
) -> None:
    reply = await command(emulator, f"/feed add url:http://{host}/")
    assert reply.ephemeral and "host name" in reply.content, reply.content
    assert "error code" not in reply.content
    assert await SubscriptionRepository(bot.db).count_for_guild(emulator.guild.id) == 0


async def test_feed_add_with_a_very_long_url_gets_a_short_clear_reply(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    too_long = feed_server.url("/dynamic/x?" + "q" * 4000)
    reply = await command(emulator, f"/feed add url:{too_long}")
    assert reply.ephemeral and "at most 2,000 characters" in reply.content, reply.content
    # The longest address accepted, failing to fetch: the reply quotes it shortened.
    longest = feed_server.url("/status/404?")
    longest += "q" * (2000 - len(longest))
    reply = await command(emulator, f"/feed add url:{longest}")
    assert reply.ephemeral and "404" in reply.content, reply.content
    assert len(reply.content) <= 2000 and longest not in reply.content
    assert await SubscriptionRepository(bot.db).count_for_guild(emulator.guild.id) == 0


async def test_edge_dates_and_huge_vote_counts_kill_no_feed_and_skew_neither_latest_nor_top(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    items = [Item("old/1", title="Old", date="Mon, 13 Mar 2017 09:00:00 +0000")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    await command(emulator, f"/feed add url:{url} channel:#general")
    items[:0] = [
        Item("e/1", title="Far future", date="31 Dec 9999 23:00 -1200"),
        Item("e/2", title="Year one", date="01 Jan 0001 +0100"),
        Item("e/3", title="Innocent", date=FRESH_DATE),
        Item("e/4", title="Huge votes", date=FRESH_DATE, votes=9223372036854775807),
    ]
    feed_server.set_feed("ss", shortscience_rss(items))
    shown = await wait_titles(emulator, general, 4)
    assert sorted(shown) == ["Far future", "Huge votes", "Innocent", "Year one"]

    # An entry dated now goes above those whose dates were unusable: they count from when
    # the bot first saw them, not from the year 9999.
    soon = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    items.insert(0, Item("e/5", title="Brand new", date=soon))
    feed_server.set_feed("ss", shortscience_rss(items))
    await wait_titles(emulator, general, 5)
    latest = await command(emulator, "/latest")
    assert latest.embed is not None
    assert listed_titles(latest)[0] == "Brand new"
    top = await command(emulator, "/top period:all")
    assert top.embed is not None
    assert listed_titles(top)[0] == "Huge votes"
    assert "▲ 100000 ·" in top.embed["description"]
    assert "9223372036854775807" not in top.embed["description"]


@pytest.mark.parametrize("codec", ["zlib", "rot13", "undefined", "punycode"])
async def test_a_feed_naming_a_codec_that_is_no_character_set_still_works(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer, codec: str
) -> None:
    general = emulator.guild.channel("general")
    items = [Item("old/1")]

    def body() -> bytes:
        return shortscience_rss(items).replace(b'encoding="UTF-8"', f'encoding="{codec}"'.encode())

    url = feed_server.set_feed("ss", body(), content_type=f"application/rss+xml; charset={codec}")
    reply = await command(emulator, f"/feed add url:{url} channel:#general")
    assert "Subscribed" in reply.content, reply.content
    items.insert(0, Item("n/1", title="Still announced"))
    feed_server.set_feed("ss", body(), content_type=f"application/rss+xml; charset={codec}")
    assert await wait_titles(emulator, general, 1) == ["Still announced"]


async def test_a_broken_feed_read_leniently_shows_entities_decoded_once(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    entries = ["<entry><id>tag:x,2024:1</id><title>Old</title></entry>"]

    def broken_atom() -> str:  # an unclosed <p>: only feedparser's lenient parser reads it
        return (
            '<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">R&amp;amp;D Team</title>'
            "<id>tag:x,2024:feed</id>" + "".join(entries) + "<p></feed>"
        )

    url = feed_server.set_feed("rd", broken_atom(), content_type="application/atom+xml")
    reply = await command(emulator, f"/feed add url:{url} channel:#general")
    assert "to **R&D Team**" in reply.content, reply.content
    entries.insert(
        0,
        "<entry><id>tag:x,2024:2</id><title type='html'>R&amp;amp;D &amp;lt;3</title>"
        "<author><name>R&amp;D Team</name></author><summary>Plain &amp;amp; kept</summary>"
        "</entry>",
    )
    feed_server.set_feed("rd", broken_atom(), content_type="application/atom+xml")
    assert await wait_titles(emulator, general, 1) == ["R&D <3"]
    summary = await SummaryRepository(bot.db).get(summary_id_in(emulator.messages(general)[0]))
    assert summary is not None
    assert (summary.title, summary.author_name, summary.body) == (
        "R&D <3",
        "R&D Team",
        "Plain &amp; kept",
    )
    listing = await command(emulator, "/feed list")
    assert listing.embed is not None and "[R&D Team]" in listing.embed["description"]


async def test_the_per_server_cap_and_duplicates_are_refused(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    for n in range(3):
        url = feed_server.set_feed(f"f{n}", shortscience_rss([Item(f"k/{n}")]))
        assert "Subscribed" in (await command(emulator, f"/feed add url:{url}")).content
    again = await command(emulator, f"/feed add url:{feed_server.url('/dynamic/f0')}")
    assert "already has 3 feeds" in again.content
    await command(emulator, "/feed remove feed:1")
    duplicate = await command(emulator, f"/feed add url:{feed_server.url('/dynamic/f1')}")
    assert "already gets that feed" in duplicate.content


async def test_members_without_manage_server_are_refused(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    alice = emulator.guild.member("alice")
    for line in (
        "/feed list",
        f"/feed add url:{feed_server.url('/dynamic/x')}",
        "/announce channel",
    ):
        reply = await command(emulator, line, member=alice)
        assert reply.ephemeral and "Manage Server" in reply.content
    commands = {c["name"]: c for c in await emulator.wait_for_commands(emulator.guild)}
    manage_guild = str(1 << 5)
    assert commands["feed"]["default_member_permissions"] == manage_guild
    assert commands["announce"]["default_member_permissions"] == manage_guild
    assert commands["feed"].get("contexts") in (None, [0])


async def test_list_test_pause_resume_and_remove(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general = emulator.guild.channel("general")
    items = [
        Item("old/1", title="Older", date="Mon, 13 Mar 2017 09:00:00 +0000"),
        Item("old/2", title="Newest so far", date="Tue, 14 Mar 2017 09:00:00 +0000"),
    ]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    await command(emulator, f"/feed add url:{url} channel:#general include:nothing-matches")
    number = (await SubscriptionRepository(bot.db).for_guild(emulator.guild.id))[0].subscription.id

    choices = await (
        await emulator.autocomplete("/feed test feed:", "feed", member=moderator(emulator))
    ).wait_choices()
    assert choices == [{"name": f"#{number} ShortScience.org → #general", "value": number}]

    reply = await command(emulator, f"/feed test feed:{number}")
    assert "Posted a test announcement" in reply.content
    test_message = emulator.messages(general)[0]
    assert test_message.embed is not None and test_message.embed["title"] == "[Test] Newest so far"

    listing = await command(emulator, "/feed list")
    assert listing.embed is not None
    description = listing.embed["description"]
    assert f"**#{number}**" in description and "✅ active" in description
    assert "include `nothing-matches`" in description and "next poll" in description

    assert "Paused" in (await command(emulator, f"/feed pause feed:{number}")).content
    items.insert(0, Item("n/1", title="While paused"))
    feed_server.set_feed("ss", shortscience_rss(items))
    await settle(bot)
    assert len(emulator.messages(general)) == 1
    assert "Resumed" in (await command(emulator, f"/feed resume feed:{number}")).content
    assert "Removed" in (await command(emulator, f"/feed remove feed:{number}")).content
    assert (await command(emulator, "/feed list")).content.startswith("This server has no feeds")
    missing = await command(emulator, f"/feed pause feed:{number}")
    assert "no feed #" in missing.content


async def test_new_community_summaries_go_to_the_announce_channel(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    papers = emulator.guild.channel("papers")
    reply = await command(emulator, "/announce channel channel:#papers")
    assert f"<#{papers.id}>" in reply.content
    summary = await SummaryRepository(bot.db).upsert_external(
        external_id="community-test", body="Our **own** summary.", title="Our paper"
    )
    async with bot.db.transaction() as conn:
        row = await enqueue_community_announcement(
            bot.db, summary.summary_id, emulator.guild.id, conn=conn
        )
    assert row is not None
    bot.dispatch("announcement_enqueued")
    assert await wait_titles(emulator, papers, 1) == ["Our paper"]
    assert "not be announced" in (await command(emulator, "/announce channel")).content
    assert (
        await enqueue_community_announcement(bot.db, summary.summary_id, emulator.guild.id) is None
    )


async def test_the_poller_survives_every_fault_and_still_announces_the_healthy_feed(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    general, papers = emulator.guild.channel("general"), emulator.guild.channel("papers")
    cog = feeds_cog(bot)
    cog.poller.limits = FetchLimits(max_bytes=1024 * 1024, total_timeout=4.0, connect_timeout=1.0)
    feed_server.hang_seconds = 30.0
    feed_server.big_size = 2 * 1024 * 1024
    repeated = shortscience_rss([Item("same/1", title="A"), Item("same/1", title="A")])
    faulty = {
        "/hang": "no complete answer",
        "/slow-body": "no complete answer",
        "/status/500": "500",
        "/status/404": "404",
        "/status/410": "410",
        "/loop/a": "redirect",
        "/big": "MiB",
        "/gzip-bomb": "MiB",
        "/empty": "empty",
        "/redirect-ftp": "",
    }
    items = [Item("old/1")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    reply = await command(emulator, f"/feed add url:{url} channel:#general")
    assert "Subscribed" in reply.content
    # The faulty feeds are stored directly: /feed add would refuse them (and the cap).
    for name, body in (("repeat", repeated), ("latin1", feed_server.fixture_bytes("latin1.xml"))):
        feed_server.set_feed(name, body)
    feeds, subscriptions = FeedRepository(bot.db), SubscriptionRepository(bot.db)
    readable = ["/dynamic/repeat", "/dynamic/latin1", "/fixtures/broken.xml"]  # broken: recovered
    for path in [*faulty, *readable, "/redirect/308/fixtures/rss20.xml"]:
        feed_id = await feeds.create(
            feed_server.url(path), title="", site_url=None, now=0, next_poll_at=0
        )
        await subscriptions.add(
            feed_id=feed_id, guild_id=emulator.guild.id, channel_id=papers.id, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    items.insert(0, Item("n/1", title="Healthy news"))
    feed_server.set_feed("ss", shortscience_rss(items))
    assert await wait_titles(emulator, general, 1, timeout=15) == ["Healthy news"]
    # ...while the hanging feed's poll is still waiting for its answer.
    hanging = await feeds.get_by_url(feed_server.url("/hang"))
    assert feed_server.requests["/hang"] == 1
    assert hanging is not None and hanging.last_polled_at is None
    await cog.poll_now()
    await cog.poller.wait_idle()
    by_url = {s.feed.url: s.feed for s in await subscriptions.for_guild(emulator.guild.id)}
    for path, error in faulty.items():
        feed = by_url[feed_server.url(path)]
        assert feed.consecutive_failures >= 1 or feed.paused_reason, path
        assert error in (feed.last_error or ""), (path, feed.last_error)
    assert by_url[feed_server.url("/status/410")].paused_reason is not None
    for path in readable:
        assert by_url[feed_server.url(path)].initialized, path
    # A permanent redirect moved the stored URL.
    assert feed_server.url("/redirect/308/fixtures/rss20.xml") not in by_url
    assert by_url[feed_server.url("/fixtures/rss20.xml")].initialized
    notices = [m.content for m in emulator.messages(papers)]
    assert len(notices) == 1 and "410" in notices[0]  # the gone feed's pause notice
