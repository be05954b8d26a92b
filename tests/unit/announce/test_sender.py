"""The outbox sender: order, nonces, exactly-once after a crash, and Discord's refusals."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

import bot.announce.messages as messages_module
from bot.announce.community import enqueue_community_announcement
from bot.announce.components import marker_of
from bot.announce.sender import OutboxSender
from bot.storage import Database
from bot.storage.feeds import CommunityAnnounceRepository, FeedRepository, SubscriptionRepository
from bot.storage.outbox import OutboxRepository
from bot.storage.summaries import SummaryRepository
from tests.databases import DatabaseFactory

GUILD = 1
OWN_ID = 4242  # the bot's user id


@dataclass
class FakeDiscord:
    """Channels that store messages and, like Discord, return the earlier message for a
    repeated nonce. `failures[channel]` is a list of exceptions raised by the next sends."""

    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    by_nonce: dict[str, SimpleNamespace] = field(default_factory=dict)
    failures: dict[int, list[BaseException]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    # Discord forgets nonces (its window passed); channels whose history the bot may not read.
    forget_nonces: bool = False
    history_forbidden: set[int] = field(default_factory=set)
    history_reads: list[int] = field(default_factory=list)
    # What each channel holds, as Discord returns it from its history.
    posted: dict[int, list[SimpleNamespace]] = field(default_factory=dict)

    def channel(self, channel_id: int, guild_id: int) -> discord.abc.Messageable:
        # The sender's channel resolver: FakeChannel has the part of a Messageable the
        # sender uses (send, history).
        return cast(discord.abc.Messageable, FakeChannel(self, channel_id))


@dataclass
class FakeChannel:
    fake: FakeDiscord
    channel_id: int

    async def send(self, content: str | None = None, **kwargs: Any) -> SimpleNamespace:
        pending = self.fake.failures.get(self.channel_id)
        if pending:
            raise pending.pop(0)
        nonce = kwargs["nonce"]
        assert isinstance(nonce, str) and 0 < len(nonce) <= 25
        if nonce in self.fake.by_nonce and not self.fake.forget_nonces:
            return self.fake.by_nonce[nonce]
        view = kwargs.get("view")
        message = SimpleNamespace(
            id=next(self.fake.ids),
            author=SimpleNamespace(id=OWN_ID),
            components=view.to_components() if view is not None else [],
        )
        self.fake.messages.setdefault(self.channel_id, []).append({"content": content, **kwargs})
        self.fake.posted.setdefault(self.channel_id, []).append(message)
        self.fake.by_nonce[nonce] = message
        return message

    async def history(self, **kwargs: Any) -> AsyncIterator[SimpleNamespace]:
        self.fake.history_reads.append(self.channel_id)
        if self.channel_id in self.fake.history_forbidden:
            raise http_error(discord.Forbidden, 403, 50013)
        for message in self.fake.posted.get(self.channel_id, []):
            yield message


def http_error(kind: type[discord.HTTPException], status: int, code: int = 0) -> Exception:
    response = SimpleNamespace(status=status, reason="test")
    return kind(response, {"code": code, "message": f"error {status}"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


@pytest.fixture
def fake() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
def clock() -> Clock:
    return Clock()


# Every sender of a test stands for one bot process, restarted after a crash with the same
# owner id: the take-over of a dead process's leases by another is tested on its own
# (tests/unit/storage/test_outbox_leases.py).
OWNER = "test-host-1-abcdef"


def make_sender(db: Database, fake: FakeDiscord, clock: Clock) -> OutboxSender:
    return OutboxSender(
        db,
        fake.channel,
        own_user_id=lambda: OWN_ID,
        sends_per_second=1e6,
        clock=clock,
        owner=OWNER,
    )


@pytest.fixture
def sender(db: Database, fake: FakeDiscord, clock: Clock) -> OutboxSender:
    return make_sender(db, fake, clock)


async def new_summary(db: Database, title: str, *, body: str = "Body text.") -> int:
    result = await SummaryRepository(db).upsert_external(
        external_id=f"test:{title}", body=body, title=title, author_name="alice", score=4
    )
    return result.summary_id


async def subscribe(db: Database, channel_id: int, *, role: int | None = None) -> tuple[int, int]:
    feeds = FeedRepository(db)
    feed_id = await feeds.create(
        f"http://feeds.test/{channel_id}", title="Test Feed", site_url=None, now=0, next_poll_at=0
    )
    subscription = await SubscriptionRepository(db).add(
        feed_id=feed_id, guild_id=GUILD, channel_id=channel_id, include_terms="",
        exclude_terms="", mention_role_id=role, created_by=None, now=0,
    )  # fmt: skip
    return feed_id, subscription


async def enqueue(
    db: Database, channel_id: int, summary_id: int, *, feed_id: int, subscription_id: int,
    role: int | None = None,
) -> int:  # fmt: skip
    return await OutboxRepository(db).enqueue(
        kind="summary", guild_id=GUILD, channel_id=channel_id, subscription_id=subscription_id,
        feed_id=feed_id, summary_id=summary_id, mention_role_id=role, now=0,
    )  # fmt: skip


def titles(fake: FakeDiscord, channel_id: int) -> list[str]:
    return [m["embed"].title if m.get("embed") else m["content"] for m in fake.messages[channel_id]]


async def test_sends_oldest_first_with_nonces_and_records_message_ids(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    feed_id, sub = await subscribe(db, 10)
    rows = [
        await enqueue(
            db, 10, await new_summary(db, f"Paper {n}"), feed_id=feed_id, subscription_id=sub
        )
        for n in range(3)
    ]
    report = await sender.drain()
    assert report.sent == 3
    assert titles(fake, 10) == ["Paper 0", "Paper 1", "Paper 2"]
    outbox = OutboxRepository(db)
    stored = [await outbox.get(row) for row in rows]
    assert all(row is not None and row.state == "sent" for row in stored)
    assert {row.message_id for row in stored if row} == {1000, 1001, 1002}
    sent_nonces = [m["nonce"] for m in fake.messages[10]]
    assert sent_nonces == [row.nonce for row in stored if row]
    assert (await sender.drain()).sent == 0  # nothing twice


async def test_a_crash_between_send_and_mark_sends_once(
    db: Database, fake: FakeDiscord, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_id, sub = await subscribe(db, 10)
    await enqueue(db, 10, await new_summary(db, "Only once"), feed_id=feed_id, subscription_id=sub)

    class Killed(BaseException):
        """Stands for the process dying right after Discord accepted the message."""

    async def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    crashing = OutboxSender(db, fake.channel, sends_per_second=1e6, clock=clock, owner=OWNER)
    monkeypatch.setattr(crashing.outbox, "mark_sent", die)
    with pytest.raises(Killed):
        await crashing.drain()
    assert len(fake.messages[10]) == 1
    assert await OutboxRepository(db).count("pending") == 1

    restarted = OutboxSender(db, fake.channel, sends_per_second=1e6, clock=clock, owner=OWNER)
    report = await restarted.drain()
    assert report.sent == 1
    assert len(fake.messages[10]) == 1  # the same nonce returned the same message
    assert await OutboxRepository(db).count("sent") == 1


async def test_a_gone_channel_disables_its_subscriptions_and_the_rest_continue(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    gone_feed, gone_sub = await subscribe(db, 10)
    ok_feed, ok_sub = await subscribe(db, 20)
    await CommunityAnnounceRepository(db).set(GUILD, 10, set_by=None, now=0)
    for n in range(2):
        summary = await new_summary(db, f"Paper {n}")
        await enqueue(db, 10, summary, feed_id=gone_feed, subscription_id=gone_sub)
        await enqueue(db, 20, summary, feed_id=ok_feed, subscription_id=ok_sub)
    fake.failures[10] = [http_error(discord.NotFound, 404, 10003)]
    report = await sender.drain()
    assert report.sent == 2 and report.disabled_channels == {10}
    assert titles(fake, 20) == ["Paper 0", "Paper 1"]
    assert 10 not in fake.messages
    subscription = await SubscriptionRepository(db).get(gone_sub)
    assert subscription is not None and "gone" in (subscription.disabled_reason or "")
    community = await CommunityAnnounceRepository(db).get(GUILD)
    assert community is not None and community.disabled_reason is not None
    assert {row.state for row in await OutboxRepository(db).for_channel(10)} == {"dropped"}


async def test_forbidden_disables_too(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    feed_id, sub = await subscribe(db, 10)
    await enqueue(db, 10, await new_summary(db, "P"), feed_id=feed_id, subscription_id=sub)
    fake.failures[10] = [http_error(discord.Forbidden, 403, 50013)]
    await sender.drain()
    subscription = await SubscriptionRepository(db).get(sub)
    assert subscription is not None and "forbidden" in (subscription.disabled_reason or "")


async def test_rate_limits_and_server_errors_are_retried_in_order(
    db: Database, sender: OutboxSender, fake: FakeDiscord, clock: Clock
) -> None:
    feed_id, sub = await subscribe(db, 10)
    other_feed, other_sub = await subscribe(db, 20)
    for n in range(3):
        await enqueue(
            db, 10, await new_summary(db, f"Paper {n}"), feed_id=feed_id, subscription_id=sub
        )
    await enqueue(
        db, 20, await new_summary(db, "Other"), feed_id=other_feed, subscription_id=other_sub
    )
    fake.failures[10] = [
        http_error(discord.HTTPException, 429),
        http_error(discord.DiscordServerError, 503),
    ]
    report = await sender.drain()
    assert report.retried == 1 and report.sent == 1
    assert titles(fake, 20) == ["Other"]
    assert 10 not in fake.messages  # the first row waits, and the others wait behind it
    clock.now += 3600
    report = await sender.drain()
    assert report.retried == 1
    clock.now += 3600
    report = await sender.drain()
    assert report.sent == 3
    assert titles(fake, 10) == ["Paper 0", "Paper 1", "Paper 2"]


async def test_network_errors_are_retried(
    db: Database, sender: OutboxSender, fake: FakeDiscord, clock: Clock
) -> None:
    feed_id, sub = await subscribe(db, 10)
    await enqueue(db, 10, await new_summary(db, "P"), feed_id=feed_id, subscription_id=sub)
    fake.failures[10] = [OSError("connection reset")]
    assert (await sender.drain()).retried == 1
    row = (await OutboxRepository(db).for_channel(10))[0]
    assert row.state == "pending" and "connection reset" in (row.last_error or "")
    clock.now += 3600
    assert (await sender.drain()).sent == 1


async def test_a_message_discord_refuses_is_dropped_and_the_next_goes_out(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    feed_id, sub = await subscribe(db, 10)
    first = await enqueue(
        db, 10, await new_summary(db, "Bad"), feed_id=feed_id, subscription_id=sub
    )
    await enqueue(db, 10, await new_summary(db, "Good"), feed_id=feed_id, subscription_id=sub)
    fake.failures[10] = [http_error(discord.HTTPException, 400, 50035)]
    report = await sender.drain()
    assert (report.sent, report.dropped) == (1, 1)
    assert titles(fake, 10) == ["Good"]
    dropped = await OutboxRepository(db).get(first)
    assert (
        dropped is not None and dropped.state == "dropped" and "400" in (dropped.last_error or "")
    )


async def test_role_mention_allows_only_that_role(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    feed_id, sub = await subscribe(db, 10, role=777)
    await enqueue(db, 10, await new_summary(db, "@everyone look"), feed_id=feed_id,
                  subscription_id=sub, role=777)  # fmt: skip
    feed2, sub2 = await subscribe(db, 20)
    await enqueue(db, 20, await new_summary(db, "No role"), feed_id=feed2, subscription_id=sub2)
    await sender.drain()
    with_role = fake.messages[10][0]
    assert with_role["content"] == "<@&777>"
    allowed = with_role["allowed_mentions"].to_dict()
    assert allowed == {"parse": [], "roles": [777]}  # no @everyone, users or other roles
    without = fake.messages[20][0]
    assert without["content"] is None
    assert without["allowed_mentions"].to_dict() == {"parse": []}


async def test_notices_and_overflow_are_plain_text(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    outbox = OutboxRepository(db)
    await outbox.enqueue(kind="overflow", guild_id=GUILD, channel_id=10, text="…and 3 more", now=0)
    await outbox.enqueue(kind="notice", guild_id=GUILD, channel_id=10, text="paused", now=0)
    await sender.drain()
    assert [m["content"] for m in fake.messages[10]] == ["…and 3 more", "paused"]
    assert all(m.get("embed") is None for m in fake.messages[10])


async def test_community_announcements_go_to_the_chosen_channel(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    summary = await new_summary(db, "Ours")
    assert await enqueue_community_announcement(db, summary, GUILD) is None  # no channel yet
    await CommunityAnnounceRepository(db).set(GUILD, 30, set_by=None, now=0)
    async with db.transaction() as conn:
        row = await enqueue_community_announcement(db, summary, GUILD, conn=conn)
    assert row is not None
    await sender.drain()
    assert titles(fake, 30) == ["Ours"]
    assert fake.messages[30][0]["embed"].footer.text == "New summary"


async def test_a_deleted_summary_is_dropped(
    db: Database, sender: OutboxSender, fake: FakeDiscord
) -> None:
    feed_id, sub = await subscribe(db, 10)
    summary = await new_summary(db, "Gone")
    row = await enqueue(db, 10, summary, feed_id=feed_id, subscription_id=sub)
    async with db.transaction() as conn:
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (summary,))
    assert (await sender.drain()).dropped == 1
    stored = await OutboxRepository(db).get(row)
    assert stored is not None and stored.state == "dropped"


# -- after Discord's nonce window (issue 8, item 14) -----------------------------------------


class Killed(BaseException):
    """Stands for the process dying right after Discord accepted the message."""


async def enqueue_kind(db: Database, kind: str) -> int:
    feed_id, subscription = await subscribe(db, 10)
    outbox = OutboxRepository(db)
    if kind == "summary":
        summary = await new_summary(db, "Once")
        return await enqueue(db, 10, summary, feed_id=feed_id, subscription_id=subscription)
    return await outbox.enqueue(
        kind=kind,  # type: ignore[arg-type]
        guild_id=GUILD,
        channel_id=10,
        subscription_id=subscription,
        feed_id=feed_id,
        text=f"the {kind}",
        now=0,
    )


@dataclass
class Crashed:
    """A row whose message Discord created while the bot died before marking it sent."""

    db: Database
    sender: OutboxSender
    fake: FakeDiscord
    clock: Clock
    row_id: int

    def wait(self, seconds: float) -> None:
        """Let time pass before the restart; past the nonce window Discord forgets it."""
        self.clock.now += seconds
        self.fake.forget_nonces = seconds > self.sender.nonce_window


@pytest.fixture
def crashed(
    db: Database,
    sender: OutboxSender,
    fake: FakeDiscord,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], Awaitable[Crashed]]:
    async def crash(kind: str) -> Crashed:
        row_id = await enqueue_kind(db, kind)
        crashing = make_sender(db, fake, clock)

        async def die(*args: Any, **kwargs: Any) -> None:
            raise Killed

        monkeypatch.setattr(crashing.outbox, "mark_sent", die)
        with pytest.raises(Killed):
            await crashing.drain()
        assert len(fake.messages[10]) == 1
        return Crashed(db, sender, fake, clock, row_id)

    return crash


@pytest.mark.parametrize("kind", ["summary", "overflow", "notice"])
async def test_after_the_nonce_window_the_posted_message_is_found_not_sent_again(
    crashed: Callable[[str], Awaitable[Crashed]], kind: str
) -> None:
    after = await crashed(kind)
    after.wait(after.sender.nonce_window + 1)
    report = await after.sender.drain()
    assert (report.found, report.sent) == (1, 0)
    assert len(after.fake.messages[10]) == 1 and after.fake.history_reads == [10]
    row = await OutboxRepository(after.db).get(after.row_id)
    assert row is not None
    assert (row.state, row.message_id) == ("sent", after.fake.posted[10][0].id)


async def test_within_the_window_the_nonce_is_enough(
    crashed: Callable[[str], Awaitable[Crashed]],
) -> None:
    after = await crashed("summary")
    after.wait(after.sender.nonce_window - 1)
    report = await after.sender.drain()
    assert report.sent == 1 and after.fake.history_reads == []
    assert len(after.fake.messages[10]) == 1


async def test_only_the_bots_own_message_with_the_rows_marker_counts(
    crashed: Callable[[str], Awaitable[Crashed]],
) -> None:
    after = await crashed("summary")
    [ours] = after.fake.posted[10]
    # Someone else's message quoting the marker, and ours with another row's marker.
    after.fake.posted[10] = [
        SimpleNamespace(id=1, author=SimpleNamespace(id=7), components=ours.components),
        SimpleNamespace(
            id=2,
            author=SimpleNamespace(id=OWN_ID),
            components=[{"type": 1, "components": [{"type": 2, "custom_id": "ss:read:1:sozz"}]}],
        ),
    ]
    after.wait(after.sender.nonce_window + 1)
    report = await after.sender.drain()
    assert (report.found, report.sent) == (0, 1) and len(after.fake.messages[10]) == 2


async def test_without_read_message_history_the_row_is_sent_again(
    crashed: Callable[[str], Awaitable[Crashed]],
) -> None:
    """Never lost; it may show twice (what the README says)."""
    after = await crashed("summary")
    after.wait(after.sender.nonce_window + 1)
    after.fake.history_forbidden.add(10)
    report = await after.sender.drain()
    assert (report.found, report.sent, report.disabled_channels) == (0, 1, set())
    assert len(after.fake.messages[10]) == 2


# -- rendering (issue 8, item 18) -----------------------------------------------------------


async def test_a_fan_out_renders_the_summary_once_off_the_event_loop(
    db: Database, sender: OutboxSender, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering a long summary takes tens of milliseconds: once per drain, not once per
    channel, and in a worker thread, never on the event loop."""
    renders: list[int] = []
    original = messages_module.render_summary

    def counting(markdown: str, **kwargs: Any) -> Any:
        renders.append(threading.get_ident())
        return original(markdown, **kwargs)

    monkeypatch.setattr(messages_module, "render_summary", counting)
    summary = await new_summary(db, "Everywhere", body="Long text. " * 2000)
    channels = list(range(10, 18))
    for channel in channels:
        feed_id, subscription = await subscribe(db, channel)
        await enqueue(db, channel, summary, feed_id=feed_id, subscription_id=subscription)
    loop_thread = threading.get_ident()
    report = await sender.drain()
    assert report.sent == len(channels)
    assert len(renders) == 1 and renders[0] != loop_thread
    # Each channel still got its own message: its own marker in the Read button.
    markers = {marker_of(m["view"].to_components()) for c in channels for m in fake.messages[c]}
    assert len(markers) == len(channels)

    # The next drain renders afresh (the summary may have been edited meanwhile).
    await SummaryRepository(db).upsert_external(
        external_id="test:Everywhere", body="Edited.", title="Everywhere", author_name="alice",
        edited_at=datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    feed_id, subscription = await subscribe(db, 99)
    await enqueue(db, 99, summary, feed_id=feed_id, subscription_id=subscription)
    await sender.drain()
    assert len(renders) == 2
    assert "Edited." in fake.messages[99][0]["embed"].description
