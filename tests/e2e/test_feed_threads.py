"""Announcements that lead somewhere (issue 9): `/feed add ... thread:true` opens a discussion
thread under each announcement, named after the paper, and a forum channel gets one post per
entry, titled with the paper, the announcement as its first message. The real bot against
the emulator (which refuses what Discord refuses: a message posted to a forum, a thread name
over 100 characters, a second thread on one message) and the local feed server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bot import ShortScienceBot
from bot.storage.feeds import SubscriptionRepository
from tests.e2e.conftest import StartBot
from tests.e2e.test_feeds import command, settle, summary_id_in
from tests.emulator import Channel, DiscordEmulator, Message, Permission
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name

FRESH = "Wed, 15 Mar 2017 09:00:00 +0000"
LONG_TITLE = (
    "Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts Layer, "
    "Revisited at Scale with Many Experts"
)


@pytest.fixture
async def bot(start_bot: StartBot, emulator: DiscordEmulator, tmp_path: Path) -> ShortScienceBot:
    settings = make_settings(emulator, tmp_path / "threads.sqlite3", feed_poll_seconds=1)
    return await start_bot(settings)


def threads_in(emulator: DiscordEmulator, parent: Channel) -> list[Channel]:
    return [t for t in emulator.guild.threads if t.parent_id == parent.id]


def thread_of(emulator: DiscordEmulator, message: Message) -> Channel | None:
    """The thread started from `message` (it has the message's id, as on Discord)."""
    thread = emulator.channels_by_id.get(message.id)
    return thread if thread is not None and thread.is_thread else None


async def test_thread_true_opens_a_thread_named_after_the_paper_under_each_announcement(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    papers = emulator.guild.channel("papers")
    items = [Item("old/1", title="Old paper")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    reply = await command(emulator, f"/feed add url:{url} channel:#papers thread:true")
    assert "Subscribed" in reply.content
    assert "Each announcement gets a discussion thread, named after the paper." in reply.content

    items[:0] = [
        Item("new/1", title="Attention Is All You Need", date=FRESH),
        Item("new/2", title=LONG_TITLE, date=FRESH),
    ]
    feed_server.set_feed("ss", shortscience_rss(items))
    await emulator.wait_for(
        lambda: len(threads_in(emulator, papers)) == 2,
        timeout=15,
        description="a thread under each of the two announcements",
    )
    announcements = emulator.messages(papers)
    names: dict[str, str] = {}
    for message in announcements:
        thread = thread_of(emulator, message)
        assert message.embed is not None and thread is not None
        assert thread.parent_id == papers.id
        names[message.embed["title"]] = thread.name
    assert names["Attention Is All You Need"] == "Attention Is All You Need"
    # Within Discord's 100 characters, whole words, marked as shortened.
    long_name = names[LONG_TITLE]
    assert len(long_name) <= 100 and long_name.endswith("…")
    assert LONG_TITLE.startswith(long_name[:-1])

    # Members discuss in the thread; Read still opens the whole summary from the card.
    await emulator.post_user_message(
        thread_of(emulator, announcements[0]),  # type: ignore[arg-type]
        emulator.guild.member("alice"),
        "Great paper!",
    )
    read = await emulator.click(
        announcements[0], label="Read", member=emulator.guild.member("alice")
    )
    assert (await read.wait_reply(timeout=10)).ephemeral

    await settle(bot)  # nothing more: one thread per announcement, no second one asked for
    assert len(threads_in(emulator, papers)) == 2
    assert [
        r.status for r in emulator.requests_matching("POST /channels/*/messages/*/threads")
    ] == [
        201,
        201,
    ]
    listing = await command(emulator, "/feed list")
    assert "a discussion thread under each announcement" in listing.text


async def test_a_forum_gets_one_post_per_entry_titled_with_the_paper(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    forum = emulator.guild.add_forum("paper-club")
    await emulator.wait_for(lambda: bot.get_channel(forum.id) is not None, timeout=5)
    items = [Item("old/1", title="Old paper")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    reply = await command(emulator, f"/feed add url:{url} channel:#paper-club")
    assert "Subscribed <#" in reply.content
    assert "Each new entry becomes a post in the forum, titled with the paper." in reply.content

    # Seven new entries: five posts, and one post for the rest ("…and 2 more").
    fresh = [Item(f"new/{n}", title=f"Paper number {n}", date=FRESH) for n in range(7)]
    items[:0] = fresh
    feed_server.set_feed("ss", shortscience_rss(items))
    await emulator.wait_for(
        lambda: len(threads_in(emulator, forum)) == 6,
        timeout=15,
        description="six posts in the forum",
    )
    await settle(bot)
    posts = sorted(threads_in(emulator, forum), key=lambda t: t.id)
    assert len(posts) == 6
    # Never a message to the forum itself (Discord refuses them).
    assert emulator.requests_matching(f"POST /channels/{forum.id}/messages") == []
    for post in posts[:5]:
        [first] = emulator.messages(post)
        assert first.id == post.id  # the post's first message
        assert first.embed is not None and first.embed["title"] == post.name
        assert post.name.startswith("Paper number")
    overflow = posts[5]
    assert (
        overflow.name == "…and 2 more new summaries from ShortScience.org: see them with /latest."
    )
    [line] = emulator.messages(overflow)
    assert line.find_component(label="Latest summaries")

    # Read from inside a post: the whole summary, privately.
    first = emulator.messages(posts[0])[0]
    read = await emulator.click(first, label="Read", member=emulator.guild.member("alice"))
    private = await read.wait_reply(timeout=10)
    assert private.ephemeral and private.embed["title"] == posts[0].name  # type: ignore[index]
    assert summary_id_in(first) > 0

    # /feed list says how the forum is served; /feed test makes a post too.
    listing = await command(emulator, "/feed list")
    assert "a forum post for each entry" in listing.text
    tested = await command(emulator, "/feed test feed:1")
    assert "Posted a test announcement" in tested.content
    test_post = max(threads_in(emulator, forum), key=lambda t: t.id)
    assert test_post.name.startswith("[Test] Paper number")
    assert emulator.requests_matching(f"POST /channels/{forum.id}/messages") == []


async def test_thread_true_without_create_public_threads_is_refused_clearly(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    papers = emulator.guild.channel("papers")
    papers.permission_overwrites.append(
        {
            "id": str(emulator.bot_user.id),
            "type": 1,
            "allow": "0",
            "deny": str(Permission.CREATE_PUBLIC_THREADS),
        }
    )
    await emulator.dispatch("CHANNEL_UPDATE", papers.payload())
    await emulator.wait_for(
        lambda: (
            not bot.get_channel(papers.id)
            .permissions_for(  # type: ignore[union-attr]
                bot.get_guild(emulator.guild.id).me  # type: ignore[union-attr]
            )
            .create_public_threads
        ),
        timeout=5,
    )
    url = feed_server.set_feed("ss", shortscience_rss([Item("old/1")]))
    reply = await command(emulator, f"/feed add url:{url} channel:#papers thread:true")
    assert reply.ephemeral
    assert reply.content == (
        f"I can't announce in <#{papers.id}> that way: I need the Create Public Threads "
        "permission there."
    )
    # Without a thread, the same channel is fine.
    reply = await command(emulator, f"/feed add url:{url} channel:#papers")
    assert "Subscribed" in reply.content


async def test_a_forum_that_requires_tags_is_refused_clearly(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    """Posts go without tags, and Discord refuses an untagged post in such a forum."""
    strict = emulator.guild.add_forum("strict-club", tags=["paper"], require_tag=True)
    await emulator.wait_for(lambda: bot.get_channel(strict.id) is not None, timeout=5)
    url = feed_server.set_feed("ss", shortscience_rss([Item("old/1")]))
    reply = await command(emulator, f"/feed add url:{url} channel:#strict-club")
    assert reply.ephemeral and reply.content.startswith(
        f"<#{strict.id}> requires a tag on every post, and I post without one"
    )
    assert await SubscriptionRepository(bot.db).for_guild(emulator.guild.id) == []
