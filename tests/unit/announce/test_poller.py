"""The poller against a small local HTTP server: which entries are new, what is enqueued,
conditional GET, failures, backoff and pausing, the one-transaction outbox, and the batch
writer that commits several polls together."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
import pytest
from aiohttp import web

from bot.announce import poller as poller_module
from bot.announce.filters import KeywordFilter
from bot.announce.poller import (
    WRITE_BATCH_ENTRIES,
    BatchWriter,
    FeedPoller,
    FetchLimits,
    WriteJob,
)
from bot.feeds.workers import FeedWorkers
from bot.storage import Connection, Database, DatabaseUnavailableError
from bot.storage.feeds import Feed, FeedRepository, SubscriptionRepository
from bot.storage.outbox import OutboxRepository
from tests.databases import DatabaseFactory
from tests.feedserver import FeedServer as FaultServer
from tests.feedserver import feed_server

__all__ = ["feed_server"]  # the fixture, used by name

GUILD = 1
ARXIV_RSS = (
    Path(__file__).resolve().parents[2] / "fixtures" / "feeds" / "arxiv_rss.xml"
).read_bytes()


@dataclass
class Item:
    key: str
    user: str = "alice"
    title: str = ""
    body: str = "A summary."
    date: str = "Tue, 14 Mar 2017 09:21:07 +0000"
    votes: int = 1

    def xml(self) -> str:
        link = f"https://www.shortscience.org/paper?bibtexKey={self.key}#{self.user}"
        return (
            f"<item><title>{escape(self.title or self.key)}</title><link>{link}</link>"
            f"<guid>{link}</guid><author>{escape(self.user)}</author>"
            f"<pubDate>{self.date}</pubDate><description>{escape(self.body)}</description>"
            f"<shortscience:bibtexkey>{escape(self.key)}</shortscience:bibtexkey>"
            f"<shortscience:votes>{self.votes}</shortscience:votes></item>"
        )


def slow_body(items: int = 6000) -> bytes:
    """A broken feed (an unclosed tag): only feedparser's lenient parser reads it, which takes
    seconds for a few MB."""
    entries = "".join(
        f"<item><title>Entry {n}</title><guid>g{n}</guid><description>{'word ' * 60}"
        "</description></item>"
        for n in range(items)
    )
    return f'<rss version="2.0"><channel><title>Slow</title>{entries}<p></channel></rss>'.encode()


def shortscience_rss(items: list[Item], *, ttl: int | None = None) -> bytes:
    ttl_xml = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:shortscience="http://www.shortscience.org"><channel>'
        "<title>ShortScience.org</title><link>https://www.shortscience.org</link>"
        f"<description>Latest</description>{ttl_xml}"
        + "".join(item.xml() for item in items)
        + "</channel></rss>"
    ).encode()


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    requests: int = 0


class FeedServer:
    """Serves `routes[path]`; honours If-None-Match when the route has an ETag."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path

    async def handle(self, request: web.Request) -> web.Response:
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        route.requests += 1
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
            if request.headers.get("If-None-Match") == route.etag:
                return web.Response(status=304, headers=headers)
        return web.Response(status=route.status, body=route.body, headers=headers)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feed_server = FeedServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", feed_server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    feed_server.base = f"http://127.0.0.1:{port}"
    yield feed_server
    await runner.cleanup()


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def poller(db: Database, clock: Clock) -> AsyncIterator[FeedPoller]:
    async with aiohttp.ClientSession() as session:
        feed_poller = FeedPoller(
            db, session, poll_seconds=60, concurrency=4, max_failures=3,
            limits=FetchLimits(total_timeout=5), clock=clock, rng=random.Random(0),
        )  # fmt: skip
        yield feed_poller
        await feed_poller.close()


async def add_feed(
    db: Database,
    url: str,
    channels: list[int],
    *,
    include: str = "",
    role: int | None = None,
    guild: int = GUILD,
) -> tuple[int, list[int]]:
    feed_id = await FeedRepository(db).create(url, title="", site_url=None, now=0, next_poll_at=0)
    subs = [
        await SubscriptionRepository(db).add(
            feed_id=feed_id,
            guild_id=guild,
            channel_id=channel,
            include_terms=include,
            exclude_terms="",
            mention_role_id=role,
            created_by=None,
            now=0,
        )
        for channel in channels
    ]
    return feed_id, subs


async def poll(poller: FeedPoller, feed_id: int) -> tuple[str, int]:
    feed = await FeedRepository(poller.db).get(feed_id)
    assert isinstance(feed, Feed)
    outcome = await poller.poll(feed)
    return outcome.status, outcome.announcements


async def queued(db: Database, channel_id: int) -> list[tuple[str, str]]:
    """(kind, title or text) of the outbox rows of a channel."""
    result: list[tuple[str, str]] = []
    outbox = OutboxRepository(db)
    for row in await outbox.for_channel(channel_id):
        if row.summary_id is not None:
            summary = await outbox.announced_summary(row.summary_id)
            assert summary is not None
            result.append((row.kind, summary.title))
        else:
            result.append((row.kind, row.text or ""))
    return result


async def test_first_poll_announces_nothing_then_a_new_item_once_per_channel(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    items = [Item("a/1", title="Old one"), Item("a/2", title="Old two")]
    server.routes["/ss"] = Route(shortscience_rss(items))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10, 20])
    assert await poll(poller, feed_id) == ("initialized", 0)
    assert await OutboxRepository(db).count("pending") == 0
    assert await FeedRepository(db).seen_count(feed_id) == 2

    items.insert(0, Item("b/1", title="Fresh paper", date="Wed, 15 Mar 2017 09:00:00 +0000"))
    server.routes["/ss"].body = shortscience_rss(items)
    assert await poll(poller, feed_id) == ("new", 2)
    assert await queued(db, 10) == [("summary", "Fresh paper")]
    assert await queued(db, 20) == [("summary", "Fresh paper")]
    # Searchable at once: every entry is a stored summary.
    titles = {row[0] for row in await db.fetchall("SELECT title FROM summaries")}
    assert titles == {"Old one", "Old two", "Fresh paper"}

    assert await poll(poller, feed_id) == ("unchanged", 0)  # same body: nothing parsed
    assert len(await queued(db, 10)) == 1


async def test_an_edited_item_is_updated_not_announced_again(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    items = [Item("a/1", title="Paper", body="First text")]
    server.routes["/ss"] = Route(shortscience_rss(items))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10])
    await poll(poller, feed_id)
    # ShortScience moves pubDate on every edit; the guid stays.
    items[0] = Item(
        "a/1", title="Paper", body="Edited text", date="Fri, 01 Jan 2021 00:00:00 +0000"
    )
    server.routes["/ss"].body = shortscience_rss(items)
    assert await poll(poller, feed_id) == ("new", 0)
    assert await queued(db, 10) == []
    rows = await db.fetchall("SELECT body FROM summaries")
    assert [row[0] for row in rows] == ["Edited text"]


async def test_conditional_get_uses_the_etag(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    server.routes["/ss"] = Route(shortscience_rss([Item("a/1")]), etag='"v1"')
    feed_id, _ = await add_feed(db, server.url("/ss"), [10])
    await poll(poller, feed_id)
    assert await poll(poller, feed_id) == ("not_modified", 0)
    assert server.routes["/ss"].requests == 2
    feed = await FeedRepository(db).get(feed_id)
    assert feed is not None and feed.etag == '"v1"' and feed.consecutive_failures == 0


async def test_filters_roles_and_paused_subscriptions(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    items = [Item("a/1")]
    server.routes["/ss"] = Route(shortscience_rss(items))
    feed_id, (_everything, vision, paused) = await add_feed(db, server.url("/ss"), [10, 20, 30])
    subs = SubscriptionRepository(db)
    await subs.remove(vision)
    await subs.add(
        feed_id=feed_id, guild_id=GUILD, channel_id=20, include_terms='vision "image net"',
        exclude_terms="survey", mention_role_id=555, created_by=None, now=0,
    )  # fmt: skip
    await subs.set_paused(paused, True)
    await poll(poller, feed_id)
    items[:0] = [
        Item("b/1", title="A vision survey"),
        Item("b/2", title="Language models"),
        Item("b/3", title="Deep nets", body="Trained on Image  Net."),
    ]
    server.routes["/ss"].body = shortscience_rss(items)
    assert await poll(poller, feed_id) == ("new", 4)
    assert [t for _, t in await queued(db, 10)] == [
        "Deep nets",
        "Language models",
        "A vision survey",
    ]
    assert await queued(db, 20) == [("summary", "Deep nets")]
    assert [row.mention_role_id for row in await OutboxRepository(db).for_channel(20)] == [555]
    assert await queued(db, 30) == []
    # Entries seen while paused stay seen: resuming does not replay them.
    await subs.set_paused(paused, False)
    assert await poll(poller, feed_id) == ("unchanged", 0)


async def test_at_most_five_per_channel_then_one_overflow_line(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    server.routes["/ss"] = Route(shortscience_rss([Item("old/1")]))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10])
    await poll(poller, feed_id)
    fresh = [
        Item(f"new/{n}", title=f"Paper {n}", date=f"Wed, 15 Mar 2017 09:{n:02d}:00 +0000")
        for n in range(8)
    ]
    server.routes["/ss"].body = shortscience_rss([*reversed(fresh), Item("old/1")])
    assert await poll(poller, feed_id) == ("new", 6)
    rows = await queued(db, 10)
    assert [title for _, title in rows[:5]] == [f"Paper {n}" for n in range(3, 8)]
    assert rows[5][0] == "overflow" and "3 more" in rows[5][1] and "/latest" in rows[5][1]


async def test_rows_carry_how_each_subscription_is_delivered(
    db: Database, poller: FeedPoller, server: FeedServer, clock: Clock
) -> None:
    """A `thread:true` subscription's announcements open threads (its "…and N more" line is
    a plain message); everything to a forum is a post, notices too."""
    server.routes["/ss"] = Route(shortscience_rss([Item("old/1")]))
    feed_id, [_plain, threaded, forum] = await add_feed(db, server.url("/ss"), [10, 20, 30])
    async with db.transaction() as conn:
        for subscription, delivery in ((threaded, "thread"), (forum, "forum")):
            await conn.execute(
                "UPDATE feed_subscriptions SET delivery = ? WHERE id = ?",
                (delivery, subscription),
            )
    await poll(poller, feed_id)
    fresh = [Item(f"new/{n}", title=f"Paper {n}") for n in range(6)]
    server.routes["/ss"].body = shortscience_rss([*fresh, Item("old/1")])
    await poll(poller, feed_id)

    async def deliveries(channel: int) -> list[tuple[str, str]]:
        return [(r.kind, r.delivery) for r in await OutboxRepository(db).for_channel(channel)]

    assert await deliveries(10) == [("summary", "message")] * 5 + [("overflow", "message")]
    assert await deliveries(20) == [("summary", "thread")] * 5 + [("overflow", "message")]
    assert await deliveries(30) == [("summary", "forum")] * 5 + [("overflow", "forum")]
    server.routes["/ss"] = Route(b"", status=410)
    clock.now += 10**6
    assert (await poll(poller, feed_id))[0] == "paused"
    assert (await deliveries(20))[-1] == ("notice", "message")
    assert (await deliveries(30))[-1] == ("notice", "forum")


def paper_title(n: int) -> str:
    return f"{'Vision' if n % 2 else 'Language'} paper {n}"


def many_items(count: int, *, prefix: str = "n") -> list[Item]:
    """`count` entries, newest first, every other one about vision."""
    return [
        Item(
            f"{prefix}/{n}",
            title=paper_title(n),
            date=format_datetime(datetime(2017, 3, 1, tzinfo=UTC) + timedelta(minutes=n)),
        )
        for n in reversed(range(count))
    ]


async def test_keyword_filters_run_in_the_feed_workers_not_on_the_event_loop(
    db: Database, poller: FeedPoller, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/ss"] = Route(shortscience_rss([Item("old/1")]))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10, 20], include="vision")
    await poll(poller, feed_id)
    server.routes["/ss"].body = shortscience_rss([*many_items(1000), Item("old/1")])
    dispatched: list[str] = []
    real_run = poller.workers.run

    async def spying_run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        dispatched.append(function.__name__)
        return await real_run(function, *args, **kwargs)

    def not_in_this_process(*_args: object) -> bool:
        raise AssertionError("keyword filtering ran in the bot's own process")

    monkeypatch.setattr(poller.workers, "run", spying_run)
    monkeypatch.setattr(KeywordFilter, "matches", not_in_this_process)
    assert await poll(poller, feed_id) == ("new", 12)  # 5 and "...and 495 more", twice
    assert dispatched == ["parse_feed", "select_matching"]
    rows = await queued(db, 10)
    assert [title for _, title in rows[:5]] == [paper_title(n) for n in range(991, 1000, 2)]
    assert "495 more" in rows[5][1]


async def test_a_big_poll_is_written_in_bounded_batches_that_let_other_writers_in(
    db: Database, poller: FeedPoller, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/ss"] = Route(shortscience_rss([Item("old/1")]))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10])
    await poll(poller, feed_id)
    server.routes["/ss"].body = shortscience_rss([*many_items(2300), Item("old/1")])
    batches: list[int] = []
    events: list[str] = []
    writing = asyncio.Event()
    real_ingest = poller_module.ingest_entries

    async def recording_ingest(*args: Any, **kwargs: Any) -> Any:
        batches.append(len(args[1]))
        writing.set()
        stats = await real_ingest(*args, **kwargs)
        events.append("poll batch")
        return stats

    async def vote_meanwhile() -> None:
        """Another writer (a member's vote, say) arriving while the poll writes."""
        await writing.wait()
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE a_vote (x INTEGER)")
        events.append("vote")

    monkeypatch.setattr(poller_module, "ingest_entries", recording_ingest)
    vote = asyncio.create_task(vote_meanwhile())
    assert await poll(poller, feed_id) == ("new", 6)
    await vote
    assert sum(batches) == 2301 and max(batches) <= WRITE_BATCH_ENTRIES
    # The vote had the write lock as soon as the first batch committed, not after the poll
    # (on PostgreSQL it need not wait at all: transactions run side by side).
    assert len(events) == len(batches) + 1
    if db.engine == "sqlite":
        assert events.index("vote") == 1
    assert await FeedRepository(db).seen_count(feed_id) == 2301
    rows = await queued(db, 10)
    assert [title for _, title in rows[:5]] == [paper_title(n) for n in range(2295, 2300)]
    assert rows[5][0] == "overflow" and "2295 more" in rows[5][1]


async def test_a_crash_between_batches_loses_and_doubles_nothing(
    db: Database, poller: FeedPoller, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/ss"] = Route(shortscience_rss([Item("old/1")]))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10, 20])
    await poll(poller, feed_id)
    server.routes["/ss"].body = shortscience_rss([*many_items(1200), Item("old/1")])
    real_ingest = poller_module.ingest_entries
    calls: list[int] = []

    async def dies_in_the_third_batch(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))
        if len(calls) == 3:
            raise RuntimeError("killed in the third batch")
        return await real_ingest(*args, **kwargs)

    monkeypatch.setattr(poller_module, "ingest_entries", dies_in_the_third_batch)
    assert (await poll(poller, feed_id))[0] == "failed"
    committed = sum(calls[:2])
    assert await FeedRepository(db).seen_count(feed_id) == 1 + committed
    monkeypatch.setattr(poller_module, "ingest_entries", real_ingest)
    status, _ = await poll(poller, feed_id)
    assert status == "new"
    assert await FeedRepository(db).seen_count(feed_id) == 1201
    for channel in (10, 20):
        rows = await queued(db, channel)
        titles = [title for kind, title in rows if kind == "summary"]
        assert titles == [paper_title(n) for n in range(1195, 1200)]  # each once, the newest
        assert [kind for kind, _ in rows].count("overflow") == 1
    assert await db.fetchval("SELECT count(*) FROM summaries") == 1201


async def test_arxiv_replacements_are_not_announced(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    body = ARXIV_RSS
    server.routes["/arxiv"] = Route(b'<?xml version="1.0"?><rss version="2.0"><channel>'
                                    b"<title>arXiv</title></channel></rss>")  # fmt: skip
    feed_id, _ = await add_feed(db, server.url("/arxiv"), [10])
    await poll(poller, feed_id)
    server.routes["/arxiv"].body = body
    status, announced = await poll(poller, feed_id)
    titles = [t for _, t in await queued(db, 10)]
    parsed_types = body.decode().count("<arxiv:announce_type>replace")
    assert status == "new" and announced == len(titles)
    assert parsed_types >= 1  # the fixture has replacements, and they are not announced
    assert body.decode().count("<item>") - parsed_types >= len(titles) > 0


async def test_failures_back_off_then_pause_with_one_notice_per_channel(
    db: Database, poller: FeedPoller, server: FeedServer, clock: Clock
) -> None:
    server.routes["/bad"] = Route(b"oops", status=500)
    feed_id, _ = await add_feed(db, server.url("/bad"), [10, 20])
    feeds = FeedRepository(db)
    delays = []
    for attempt in (1, 2):
        assert (await poll(poller, feed_id))[0] == "failed"
        feed = await feeds.get(feed_id)
        assert feed is not None and feed.consecutive_failures == attempt
        assert "500" in (feed.last_error or "")
        delays.append(feed.next_poll_at - clock.now)
    assert 150 <= delays[0] <= 300 and 300 <= delays[1] <= 600  # 5 min, doubling, jittered
    assert await OutboxRepository(db).count("pending") == 0
    assert (await poll(poller, feed_id))[0] == "paused"
    feed = await feeds.get(feed_id)
    assert feed is not None and "3 polls in a row failed" in (feed.paused_reason or "")
    for channel in (10, 20):
        notices = await queued(db, channel)
        assert len(notices) == 1 and notices[0][0] == "notice"
        assert "/feed resume" in notices[0][1] and "500" in notices[0][1]
    assert await feeds.due(clock.now + 10**9) == []


async def test_gone_pauses_at_once(db: Database, poller: FeedPoller, server: FeedServer) -> None:
    server.routes["/gone"] = Route(b"", status=410)
    feed_id, _ = await add_feed(db, server.url("/gone"), [10])
    assert (await poll(poller, feed_id))[0] == "paused"
    notice = await queued(db, 10)
    assert "410" in notice[0][1]


async def test_a_permanent_redirect_updates_the_url(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    server.routes["/new"] = Route(shortscience_rss([Item("a/1")]))
    server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    feed_id, _ = await add_feed(db, server.url("/old"), [10])
    assert (await poll(poller, feed_id))[0] == "initialized"
    feed = await FeedRepository(db).get(feed_id)
    assert feed is not None and feed.url == server.url("/new")


async def test_not_a_feed_is_a_failure(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    server.routes["/html"] = Route(
        b"<html><body>hi</body></html>", headers={"Content-Type": "text/html"}
    )
    feed_id, _ = await add_feed(db, server.url("/html"), [10])
    assert (await poll(poller, feed_id))[0] == "failed"


@pytest.mark.parametrize("host", ["a..b", ".invalid", "a" * 1990])
async def test_a_malformed_host_name_fails_the_poll_with_a_clear_error(
    db: Database, poller: FeedPoller, server: FeedServer, host: str
) -> None:
    server.routes["/moved"] = Route(status=302, headers={"Location": f"http://{host}/feed"})
    for url in (f"http://{host}/feed", server.url("/moved")):
        feed_id, _ = await add_feed(db, url, [10])
        assert (await poll(poller, feed_id))[0] == "failed"
        feed = await FeedRepository(db).get(feed_id)
        assert feed is not None
        assert "host name" in (feed.last_error or ""), feed.last_error


async def test_a_parse_over_its_time_budget_fails_that_feed_only_with_backoff(
    db: Database, server: FeedServer, clock: Clock
) -> None:
    server.routes["/slow"] = Route(slow_body())
    server.routes["/fine"] = Route(shortscience_rss([Item("a/1")]))
    slow, _ = await add_feed(db, server.url("/slow"), [10])
    fine, _ = await add_feed(db, server.url("/fine"), [20])
    workers = FeedWorkers(workers=1, timeout=0.5)
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(
            db, session, poll_seconds=60, concurrency=4, max_failures=3, workers=workers,
            clock=clock, rng=random.Random(0),
        )  # fmt: skip
        try:
            outcomes = {outcome.feed_id: outcome for outcome in await poller.poll_due()}
        finally:
            await poller.close()
            await workers.close()
    assert outcomes[fine].status == "initialized"
    assert outcomes[slow].status == "failed"
    assert outcomes[slow].error == "reading it took over 0.5 s, the most one feed may take"
    feed = await FeedRepository(db).get(slow)
    assert feed is not None and feed.consecutive_failures == 1
    assert feed.next_poll_at - clock.now >= 150  # backoff: 5 minutes, jittered


async def test_parsing_never_uses_the_default_thread_pool(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    """`/search` and other user-facing work run in the loop's default executor: a feed's parse
    must never queue there (nor hold the GIL in this process)."""
    submitted: list[str] = []

    class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitted.append(getattr(fn, "__qualname__", repr(fn)))
            return super().submit(fn, *args, **kwargs)

    asyncio.get_running_loop().set_default_executor(RecordingExecutor(max_workers=2))
    server.routes["/ss"] = Route(shortscience_rss([Item("a/1")]))
    server.routes["/broken"] = Route(slow_body(50))
    for path in ("/ss", "/broken"):
        feed_id, _ = await add_feed(db, server.url(path), [10])
        assert (await poll(poller, feed_id))[0] == "initialized"
    assert not [name for name in submitted if "parse" in name], submitted


async def test_one_servers_slow_feeds_do_not_delay_another_servers_poll(
    db: Database, feed_server: FaultServer, clock: Clock
) -> None:
    """Slowloris feeds of one server hold at most that server's share of the fetch slots."""
    feed_server.hang_seconds = 120
    for n in range(6):
        await add_feed(db, feed_server.url(f"/hang?feed={n}"), [100 + n], guild=1)
    shared, _ = await add_feed(db, feed_server.url("/hang?feed=shared"), [200], guild=1)
    await SubscriptionRepository(db).add(
        feed_id=shared, guild_id=2, channel_id=201, include_terms="", exclude_terms="",
        mention_role_id=None, created_by=None, now=0,
    )  # fmt: skip
    normal, _ = await add_feed(db, feed_server.url("/fixtures/shortscience.xml"), [300], guild=2)
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(
            db, session, poll_seconds=60, concurrency=4, guild_concurrency=2, max_failures=3,
            limits=FetchLimits(total_timeout=120), clock=clock, rng=random.Random(0),
        )  # fmt: skip
        try:
            tasks = {task.get_name(): task for task in await poller.start_due()}
            outcome = await asyncio.wait_for(tasks[f"poll-feed-{normal}"], timeout=15)
            assert outcome.status == "initialized"
            # Server 1 holds its two slots; the feed it shares with server 2 took one of
            # server 2's (a shared feed counts once, against whichever server has room).
            assert feed_server.requests["/hang"] == 3
        finally:
            await poller.close()


async def test_a_crash_inside_the_poll_transaction_leaves_nothing_half_done(
    db: Database, poller: FeedPoller, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [Item("a/1")]
    server.routes["/ss"] = Route(shortscience_rss(items))
    feed_id, _ = await add_feed(db, server.url("/ss"), [10, 20])
    await poll(poller, feed_id)
    items.insert(0, Item("b/1", title="New"))
    server.routes["/ss"].body = shortscience_rss(items)

    real_enqueue_many = poller.outbox.enqueue_many

    async def enqueue_then_die(*args: object, **kwargs: object) -> int:
        await real_enqueue_many(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("killed after the fan-out, before the commit")

    monkeypatch.setattr(poller.outbox, "enqueue_many", enqueue_then_die)
    assert (await poll(poller, feed_id))[0] == "failed"
    assert await OutboxRepository(db).count("pending") == 0  # the rows written rolled back
    assert await FeedRepository(db).seen_count(feed_id) == 1  # the entry is still new
    monkeypatch.setattr(poller.outbox, "enqueue_many", real_enqueue_many)
    assert await poll(poller, feed_id) == ("new", 2)
    assert await queued(db, 10) == [("summary", "New")] == await queued(db, 20)


async def test_poll_due_runs_feeds_independently(
    db: Database, poller: FeedPoller, server: FeedServer
) -> None:
    server.routes["/good"] = Route(shortscience_rss([Item("a/1")]))
    server.routes["/bad"] = Route(b"<rss", status=200)
    good, _ = await add_feed(db, server.url("/good"), [10])
    bad, _ = await add_feed(db, server.url("/bad"), [20])
    outcomes = {outcome.feed_id: outcome.status for outcome in await poller.poll_due()}
    assert outcomes == {good: "initialized", bad: "failed"}
    assert await poller.poll_due() == []  # both rescheduled into the future


# --- the batch writer -------------------------------------------------------------------


def insert(value: int, *, fail: bool = False) -> WriteJob:
    async def job(conn: Connection) -> int:
        await conn.execute("INSERT INTO t VALUES (?)", (value,))
        if fail:
            raise RuntimeError(f"job {value} failed")
        return value

    return job


async def values_in(db: Database) -> list[int]:
    return [row[0] for row in await db.fetchall("SELECT x FROM t ORDER BY x")]


@pytest.fixture
async def counted_transactions(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[int]]:
    """The database with table t; counts the transactions begun."""
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
    begun: list[int] = []
    real_transaction = db.transaction

    @asynccontextmanager
    async def counting() -> AsyncIterator[Connection]:
        begun.append(1)
        async with real_transaction() as conn:
            yield conn

    monkeypatch.setattr(db, "transaction", counting)
    yield begun


async def test_batch_writer_commits_jobs_waiting_together_in_one_transaction(
    db: Database, counted_transactions: list[int]
) -> None:
    writer = BatchWriter(db, batch_size=3)
    results = await asyncio.gather(*(writer.run(insert(value)) for value in range(5)))
    assert results == [0, 1, 2, 3, 4]
    assert len(counted_transactions) == 2  # 3 + 2
    assert await values_in(db) == [0, 1, 2, 3, 4]


async def test_batch_writer_bounds_a_batch_by_the_entries_it_writes(
    db: Database, counted_transactions: list[int]
) -> None:
    writer = BatchWriter(db, batch_size=10, max_weight=100)
    weights = [60, 30, 20, 150, 5]
    results = await asyncio.gather(
        *(writer.run(insert(value), weight=weight) for value, weight in enumerate(weights))
    )
    assert results == [0, 1, 2, 3, 4]
    # 60 + 30, then 20 (150 would pass 100), then 150 alone (a batch always takes one), then 5.
    assert len(counted_transactions) == 4
    assert await values_in(db) == [0, 1, 2, 3, 4]


async def test_batch_writer_a_failing_job_costs_only_itself(
    db: Database, counted_transactions: list[int]
) -> None:
    writer = BatchWriter(db)
    results = await asyncio.gather(
        writer.run(insert(1)),
        writer.run(insert(2, fail=True)),
        writer.run(insert(3)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], RuntimeError) and "job 2" in str(results[1])
    assert len(counted_transactions) == 1
    assert await values_in(db) == [1, 3]  # the failed job's write was rolled back


async def test_batch_writer_a_job_alone_that_fails_writes_nothing(
    db: Database, counted_transactions: list[int]
) -> None:
    writer = BatchWriter(db)
    with pytest.raises(RuntimeError, match="job 1"):
        await writer.run(insert(1, fail=True))
    assert await writer.run(insert(2)) == 2
    assert await values_in(db) == [2]


async def test_batch_writer_runs_the_jobs_after_one_that_ended_the_transaction_in_a_new_one(
    db: Database, counted_transactions: list[int]
) -> None:
    async def ends_the_transaction(conn: Connection) -> int:
        await conn.execute("INSERT INTO t VALUES (?)", (2,))
        await conn.execute("ROLLBACK")  # as a full disk or a lost connection ends it
        raise RuntimeError("the transaction ended")

    writer = BatchWriter(db)
    results = await asyncio.gather(
        writer.run(insert(1)),
        writer.run(ends_the_transaction),
        writer.run(insert(3)),
        writer.run(insert(4)),
        return_exceptions=True,
    )
    # Job 1 was rolled back with the transaction: its caller hears why, not "done".
    assert all(
        isinstance(result, RuntimeError) and "ended" in str(result) for result in results[:2]
    )
    # The jobs not yet run went together into a transaction of their own.
    assert results[2:] == [3, 4]
    assert len(counted_transactions) == 2
    assert await values_in(db) == [3, 4]


async def test_batch_writer_reports_nothing_done_when_the_commit_fails(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
    real_transaction = db.transaction

    @asynccontextmanager
    async def failing_commit() -> AsyncIterator[Connection]:
        async with real_transaction() as conn:
            yield conn
            raise DatabaseUnavailableError("connection lost")  # rolls back, like a lost commit

    monkeypatch.setattr(db, "transaction", failing_commit)
    writer = BatchWriter(db)
    results = await asyncio.gather(
        writer.run(insert(1)), writer.run(insert(2, fail=True)), return_exceptions=True
    )
    assert all(isinstance(r, DatabaseUnavailableError) for r in results)
    monkeypatch.setattr(db, "transaction", real_transaction)
    assert await values_in(db) == []
    assert await writer.run(insert(4)) == 4  # the writer goes on


async def test_batch_writer_skips_the_job_of_a_caller_cancelled_while_waiting(
    db: Database, counted_transactions: list[int]
) -> None:
    writer = BatchWriter(db)
    first = asyncio.create_task(writer.run(insert(1)))
    second = asyncio.create_task(writer.run(insert(2)))
    await asyncio.sleep(0)  # both queued, the writer not started yet
    second.cancel()
    assert await first == 1
    assert second.cancelled()
    assert await values_in(db) == [1]


async def test_polls_written_together_stay_independent(
    db: Database, poller: FeedPoller, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds = {}
    for name in ("a", "b", "c"):
        server.routes[f"/{name}"] = Route(shortscience_rss([Item(f"{name}/1")]))
        feeds[name], _ = await add_feed(db, server.url(f"/{name}"), [10])
    await poller.poll_due()
    for name in ("a", "b", "c"):
        server.routes[f"/{name}"].body = shortscience_rss([Item(f"{name}/2"), Item(f"{name}/1")])
    await FeedRepository(db).make_all_due(0)

    real_record_success = poller.feeds.record_success

    async def record_success_failing_for_b(feed_id: int, **kwargs: object) -> None:
        await real_record_success(feed_id, **kwargs)  # type: ignore[arg-type]
        if feed_id == feeds["b"]:
            raise RuntimeError("b breaks after writing everything")

    monkeypatch.setattr(poller.feeds, "record_success", record_success_failing_for_b)
    outcomes = {o.feed_id: (o.status, o.announcements) for o in await poller.poll_due()}
    assert outcomes == {feeds["a"]: ("new", 1), feeds["b"]: ("failed", 0), feeds["c"]: ("new", 1)}
    titles = sorted(text for _kind, text in await queued(db, 10))
    assert titles == ["a/2", "c/2"]  # b's rows rolled back with the rest of its poll
    assert await FeedRepository(db).seen_count(feeds["b"]) == 1  # b/2 is still new

    monkeypatch.setattr(poller.feeds, "record_success", real_record_success)
    await FeedRepository(db).make_all_due(0)
    outcomes = {o.feed_id: (o.status, o.announcements) for o in await poller.poll_due()}
    assert outcomes[feeds["b"]] == ("new", 1)
    assert sorted(text for _kind, text in await queued(db, 10)) == ["a/2", "b/2", "c/2"]
