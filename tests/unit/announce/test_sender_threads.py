"""The outbox sender's threads and forum posts: one thread under each announcement of a
`thread:true` subscription, one post per entry in a forum channel, each made exactly once
even when the bot dies between two steps or Discord's answer is lost."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest

from bot.announce.components import marker_of
from bot.announce.messages import OutgoingMessage
from bot.announce.sender import OutboxSender
from bot.announce.threads import ForumPost, thread_name
from bot.storage import Database
from bot.storage.feeds import Delivery, FeedRepository, SubscriptionRepository
from bot.storage.outbox import OutboxRepository
from tests.unit.announce.test_sender import (
    GUILD,
    OWN_ID,
    Clock,
    FakeDiscord,
    clock,
    db,
    fake,
    http_error,
    new_summary,
)

__all__ = ["clock", "db", "fake"]  # fixtures, used by name


class Killed(BaseException):
    """Stands for the process dying (kill -9) at a given point."""


@dataclass
class FakeThreads:
    """Discord's threads and forum posts, as the sender sees them through ThreadOperations.

    `lose[operation]` makes the next call do its work and then raise (Discord made the
    thread or post, the bot never learned it); `failures[operation]` raise before any work.
    """

    fake: FakeDiscord
    threads: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # by message id
    posts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by forum id
    calls: list[str] = field(default_factory=list)
    lose: dict[str, BaseException] = field(default_factory=dict)
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(5000))

    def _fail(self, operation: str) -> None:
        self.calls.append(operation)
        pending = self.failures.get(operation)
        if pending:
            raise pending.pop(0)

    def _lost(self, operation: str) -> None:
        if operation in self.lose:
            raise self.lose.pop(operation)

    async def thread_of(self, channel_id: int, message_id: int) -> int | None:
        self._fail("thread_of")
        found = self.threads.get(message_id)
        return found[0] if found else None

    async def start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        self._fail("start_thread")
        assert 1 <= len(name) <= 100
        if message_id in self.threads:  # Discord: 160004, the thread exists
            return message_id
        self.threads[message_id] = (message_id, channel_id, name)
        self._lost("start_thread")
        return message_id

    async def create_post(self, forum_id: int, name: str, message: OutgoingMessage) -> ForumPost:
        self._fail("create_post")
        assert 1 <= len(name) <= 100
        post_id = next(self.ids)
        view = message.view
        self.posts.setdefault(forum_id, []).append(
            {
                "id": post_id,
                "name": name,
                "message": message,
                "components": view.to_components() if view is not None else [],
            }
        )
        self._lost("create_post")
        return ForumPost(post_id, post_id)

    async def find_post(
        self, forum_id: int, guild_id: int, *, marker: str, since: float
    ) -> ForumPost | None:
        self._fail("find_post")
        for post in self.posts.get(forum_id, []):
            if marker_of(post["components"]) == marker:
                return ForumPost(post["id"], post["id"])
        return None

    def names(self, forum_id: int) -> list[str]:
        return [post["name"] for post in self.posts.get(forum_id, [])]


@pytest.fixture
def threads(fake: FakeDiscord) -> FakeThreads:
    return FakeThreads(fake)


def make_sender(
    db: Database, fake: FakeDiscord, threads: FakeThreads, clock: Clock
) -> OutboxSender:
    return OutboxSender(
        db,
        fake.channel,
        own_user_id=lambda: OWN_ID,
        threads=threads,
        sends_per_second=1e6,
        clock=clock,
        # One process, restarted after each crash with the same owner id (the take-over of a
        # dead process's leases by another is tested in tests/unit/storage).
        owner="test-host-1-abcdef",
    )


@pytest.fixture
def sender(db: Database, fake: FakeDiscord, threads: FakeThreads, clock: Clock) -> OutboxSender:
    return make_sender(db, fake, threads, clock)


async def subscribe(db: Database, channel_id: int, delivery: Delivery) -> tuple[int, int]:
    """The channel's subscription to its test feed (made on first use)."""
    feeds = FeedRepository(db)
    url = f"http://feeds.test/{channel_id}"
    feed = await feeds.get_by_url(url)
    if feed is not None:
        [subscription] = await SubscriptionRepository(db).for_feed(feed.id)
        return feed.id, subscription.id
    feed_id = await feeds.create(url, title="Test Feed", site_url=None, now=0, next_poll_at=0)
    subscription_id = await SubscriptionRepository(db).add(
        feed_id=feed_id, guild_id=GUILD, channel_id=channel_id, include_terms="",
        exclude_terms="", mention_role_id=None, created_by=None, now=0, delivery=delivery,
    )  # fmt: skip
    return feed_id, subscription_id


async def enqueue(
    db: Database,
    channel_id: int,
    delivery: Delivery,
    *,
    title: str = "Paper",
    kind: str = "summary",
) -> int:
    feed_id, subscription = await subscribe(db, channel_id, delivery)
    summary = await new_summary(db, title) if kind == "summary" else None
    return await OutboxRepository(db).enqueue(
        kind=kind,  # type: ignore[arg-type]
        guild_id=GUILD,
        channel_id=channel_id,
        subscription_id=subscription,
        feed_id=feed_id,
        summary_id=summary,
        text=None if kind == "summary" else "…and 3 more new summaries from **Test Feed**",
        delivery=delivery,
        now=0,
    )


def test_thread_names_are_plain_one_line_and_at_most_100_characters() -> None:
    assert thread_name("Attention Is All You Need") == "Attention Is All You Need"
    assert thread_name("  **Bold**\n`code` $\\alpha$-nets ") == "Bold code α-nets"
    long = thread_name("A " + "very " * 40 + "long title")
    assert 90 <= len(long) <= 100 and long.endswith("…")
    assert thread_name("") == thread_name("   ") == "Untitled"


async def test_a_thread_is_opened_under_each_announcement_named_after_the_paper(
    db: Database, sender: OutboxSender, fake: FakeDiscord, threads: FakeThreads
) -> None:
    title = "Sparse Mixtures of Experts " + "and More " * 20
    row_id = await enqueue(db, 10, "thread", title=title)
    report = await sender.drain()
    assert (report.sent, report.threads) == (1, 1)
    [(thread_id, channel_id, name)] = threads.threads.values()
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "sent"
    assert stored.message_id == thread_id and stored.thread_id == thread_id and channel_id == 10
    assert name == thread_name(title) and len(name) <= 100 and name.startswith("Sparse")
    assert threads.calls == ["start_thread"]  # no attempt before: nothing to look for
    assert (await sender.drain()).sent == 0


async def test_a_message_row_opens_no_thread(
    db: Database, sender: OutboxSender, threads: FakeThreads
) -> None:
    await enqueue(db, 10, "message")
    assert (await sender.drain()).threads == 0 and threads.calls == []


async def test_killed_between_the_message_and_its_thread_the_thread_is_made_once(
    db: Database,
    fake: FakeDiscord,
    threads: FakeThreads,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bot dies after Discord took the message, before it asked for the thread: the
    restarted bot never posts the message again and opens the thread."""
    row_id = await enqueue(db, 10, "thread")
    crashing = make_sender(db, fake, threads, clock)

    async def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(crashing.outbox, "mark_thread_attempting", die)
    with pytest.raises(Killed):
        await crashing.drain()
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "pending" and stored.message_id is not None

    report = await make_sender(db, fake, threads, clock).drain()
    assert (report.sent, report.threads) == (1, 1)
    assert len(fake.messages[10]) == 1  # sent once
    assert list(threads.threads) == [stored.message_id]
    assert threads.calls == ["start_thread"]


async def test_a_thread_made_but_not_acknowledged_is_found_on_the_message(
    db: Database,
    fake: FakeDiscord,
    threads: FakeThreads,
    clock: Clock,
) -> None:
    """Discord made the thread and the bot died before learning it: the restarted bot reads
    the message (its `thread`) and records that thread instead of asking for another."""
    row_id = await enqueue(db, 10, "thread")
    threads.lose["start_thread"] = Killed()
    with pytest.raises(Killed):
        await make_sender(db, fake, threads, clock).drain()
    report = await make_sender(db, fake, threads, clock).drain()
    assert report.sent == 1
    assert threads.calls == ["start_thread", "thread_of"]
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "sent"
    assert stored.thread_id == stored.message_id and len(threads.threads) == 1
    assert len(fake.messages[10]) == 1


async def test_a_lost_answer_to_the_thread_request_is_retried_by_looking_first(
    db: Database, sender: OutboxSender, fake: FakeDiscord, threads: FakeThreads, clock: Clock
) -> None:
    await enqueue(db, 10, "thread")
    threads.lose["start_thread"] = TimeoutError()
    first = await sender.drain()
    assert (first.sent, first.retried) == (0, 1)
    clock.now += 600
    second = await sender.drain()
    assert (second.sent, second.threads) == (1, 1)
    assert threads.calls == ["start_thread", "thread_of"] and len(threads.threads) == 1


@pytest.mark.parametrize(
    "failure",
    [
        http_error(discord.Forbidden, 403, 50013),  # no Create Public Threads
        http_error(discord.NotFound, 404, 10008),  # the announcement was deleted meanwhile
        http_error(discord.HTTPException, 400, 50024),
    ],
)
async def test_a_thread_discord_will_not_make_never_holds_the_announcement_back(
    db: Database, sender: OutboxSender, fake: FakeDiscord, threads: FakeThreads, failure: Exception
) -> None:
    first = await enqueue(db, 10, "thread", title="First")
    await enqueue(db, 10, "thread", title="Second")
    threads.failures["start_thread"] = [failure]
    report = await sender.drain()
    assert (report.sent, report.threads, report.retried) == (2, 1, 0)
    assert len(fake.messages[10]) == 2
    stored = await OutboxRepository(db).get(first)
    assert stored is not None and stored.state == "sent" and stored.thread_id is None
    assert (stored.last_error or "").startswith("no thread: Discord answered")
    subscription = await SubscriptionRepository(db).get(stored.subscription_id or 0)
    assert subscription is not None and subscription.disabled_reason is None


async def test_without_read_message_history_the_thread_is_asked_for_again(
    db: Database, sender: OutboxSender, threads: FakeThreads, clock: Clock
) -> None:
    """Reading the message is refused: asking again is safe (Discord refuses a second
    thread on one message and names the first)."""
    await enqueue(db, 10, "thread")
    threads.lose["start_thread"] = TimeoutError()
    await sender.drain()
    threads.failures["thread_of"] = [http_error(discord.Forbidden, 403, 50013)]
    clock.now += 600
    report = await sender.drain()
    assert report.threads == 1 and len(threads.threads) == 1
    assert threads.calls == ["start_thread", "thread_of", "start_thread"]


async def test_a_forum_gets_one_post_per_entry_titled_with_the_paper(
    db: Database, sender: OutboxSender, fake: FakeDiscord, threads: FakeThreads
) -> None:
    row_id = await enqueue(db, 30, "forum", title="Sparse Mixtures of Experts")
    overflow = await enqueue(db, 30, "forum", kind="overflow")
    report = await sender.drain()
    assert report.sent == 2
    assert 30 not in fake.messages  # never a plain message in a forum
    assert threads.names(30) == [
        "Sparse Mixtures of Experts",
        "…and 3 more new summaries from Test Feed",
    ]
    first_post = threads.posts[30][0]
    message: OutgoingMessage = first_post["message"]
    assert message.embed is not None and message.embed.title == "Sparse Mixtures of Experts"
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "sent"
    assert stored.thread_id == stored.message_id == first_post["id"]
    assert marker_of(first_post["components"]) == stored.nonce
    assert (await OutboxRepository(db).get(overflow)).state == "sent"  # type: ignore[union-attr]
    assert threads.calls == ["create_post", "create_post"]


async def test_a_forum_post_made_before_a_crash_is_found_by_its_marker_not_posted_again(
    db: Database, fake: FakeDiscord, threads: FakeThreads, clock: Clock
) -> None:
    row_id = await enqueue(db, 30, "forum")
    threads.lose["create_post"] = Killed()
    with pytest.raises(Killed):
        await make_sender(db, fake, threads, clock).drain()
    clock.now += 5  # within what would be Discord's nonce window: posts take no nonce
    report = await make_sender(db, fake, threads, clock).drain()
    assert (report.found, report.sent) == (1, 0)
    assert len(threads.posts[30]) == 1
    assert threads.calls == ["create_post", "find_post"]
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "sent"
    assert stored.thread_id == threads.posts[30][0]["id"]


async def test_a_forum_post_that_never_happened_is_posted_after_looking(
    db: Database, sender: OutboxSender, threads: FakeThreads, clock: Clock
) -> None:
    await enqueue(db, 30, "forum")
    threads.failures["create_post"] = [http_error(discord.HTTPException, 503)]
    await sender.drain()
    clock.now += 600
    assert (await sender.drain()).sent == 1
    assert threads.calls == ["create_post", "find_post", "create_post"]
    assert len(threads.posts[30]) == 1


async def test_a_forum_post_refused_for_good_is_dropped_and_a_gone_forum_disabled(
    db: Database, sender: OutboxSender, threads: FakeThreads
) -> None:
    refused = await enqueue(db, 30, "forum", title="Needs a tag")
    threads.failures["create_post"] = [http_error(discord.HTTPException, 400, 40067)]
    await sender.drain()
    stored = await OutboxRepository(db).get(refused)
    assert stored is not None and stored.state == "dropped"
    assert (stored.last_error or "").startswith("Discord refused it (400")
    gone = await enqueue(db, 40, "forum")
    threads.failures["create_post"] = [http_error(discord.NotFound, 404, 10003)]
    report = await sender.drain()
    assert report.disabled_channels == {40}
    stored = await OutboxRepository(db).get(gone)
    subscription = await SubscriptionRepository(db).get(stored.subscription_id or 0)  # type: ignore[union-attr]
    assert subscription is not None and "gone" in (subscription.disabled_reason or "")


async def test_a_summary_deleted_between_its_message_and_its_thread_gets_no_thread(
    db: Database,
    fake: FakeDiscord,
    threads: FakeThreads,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row_id = await enqueue(db, 10, "thread")
    crashing = make_sender(db, fake, threads, clock)

    async def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(crashing.outbox, "mark_thread_attempting", die)
    with pytest.raises(Killed):
        await crashing.drain()
    async with db.transaction() as conn:
        await conn.execute("UPDATE summaries SET deleted_at = 1")
    report = await make_sender(db, fake, threads, clock).drain()
    assert (report.sent, report.threads) == (1, 0) and threads.threads == {}
    stored = await OutboxRepository(db).get(row_id)
    assert stored is not None and stored.state == "sent"
    assert stored.last_error == "no thread: the summary no longer exists"
