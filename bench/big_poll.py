"""What one huge feed poll costs everyone else; prints one JSON document on stdout.

    .venv/bin/python bench/big_poll.py            # 25,000 entries x 10 and 24 filtered
                                                  # subscriptions, then 50,000 entries
    .venv/bin/python bench/big_poll.py --quick    # 5,000 entries

A feed whose every entry is new on each poll (the worst case: a feed that changes all its
guids) is served from a child process on 127.0.0.1 and polled with `FeedPoller.poll()` as
the bot does, with keyword filters on its subscriptions. Meanwhile:

- a probe sleeps 5 ms over and over and records how late it wakes: the longest stall of the
  event loop (Discord wants an interaction answered within 3 s);
- a "vote" wants to write one row every 50 ms, and records how late each write is (waiting
  for the event loop, then for the write lock): what a member's vote or the sender waits
  while the poll works;
- every transaction is timed: the longest is how long the poll held the one write lock.

Each scenario runs `--repeats` times (3); medians are reported with the runs.
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
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bench.machine import describe
from bench.poll import serve_until_told

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.storage.database import Connection, Database

WORDS = ("vision", "language", "graph", "diffusion", "survey", "robust", "sparse", "agent")


def feed_body(generation: int, entries: int) -> bytes:
    """`entries` short RSS items, all with guids new in this generation (about 110 bytes each,
    so 50,000 stay near the 5 MB a polled feed may have)."""
    items = "".join(
        f"<item><title>{WORDS[n % 8]} {WORDS[(n // 8) % 8]} {n}</title>"
        f"<guid>g{generation}-{n}</guid><description>{WORDS[(n // 64) % 8]} notes</description>"
        "</item>"
        for n in range(entries)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://example.org/</link>{items}</channel></rss>"
    ).encode()


async def _serve(conn: multiprocessing.connection.Connection) -> None:
    state = {"generation": 0, "entries": 10}
    bodies: dict[tuple[int, int], bytes] = {}

    async def feed(request: web.Request) -> web.Response:
        key = (state["generation"], state["entries"])
        if key not in bodies:
            bodies.clear()
            bodies[key] = feed_body(*key)
        return web.Response(body=bodies[key], content_type="application/rss+xml")

    async def admin(request: web.Request) -> web.Response:
        state["generation"] = int(request.query["generation"])
        state["entries"] = int(request.query["entries"])
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/feed", feed), web.post("/admin", admin)])
    await serve_until_told(conn, app)


def _serve_in_child(conn: multiprocessing.connection.Connection) -> None:
    asyncio.run(_serve(conn))


@dataclass
class Probe:
    """The loop's stalls, how late small writes are, and how long transactions hold the lock."""

    stalls: list[float] = field(default_factory=list)
    vote_delays: list[float] = field(default_factory=list)
    transactions: list[float] = field(default_factory=list)
    running: bool = True

    async def watch_loop(self) -> None:
        while self.running:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.stalls.append(time.perf_counter() - started - 0.005)

    async def vote(self, db: Database) -> None:
        due = time.perf_counter()
        while self.running:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO bench_votes VALUES (?)", (due,))
            done = time.perf_counter()
            self.vote_delays.append(done - due)
            due = max(due + 0.05, done)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    def time_transactions(self, db: Database) -> None:
        """Time each write transaction from its BEGIN to its COMMIT, the write lock held.
        Every write (`transaction()`, `run_transaction`, `writing`, `write_statement`) goes
        through the engine's `_raw_transaction`; `transaction()` around it adds the commit
        hooks, which run after the lock is released."""
        real_transaction = db._raw_transaction

        @contextlib.asynccontextmanager
        async def timed_transaction() -> AsyncIterator[Connection]:
            async with real_transaction() as conn:
                started = time.perf_counter()
                yield conn
            self.transactions.append(time.perf_counter() - started)

        db._raw_transaction = timed_transaction


async def one_poll(
    args: argparse.Namespace, port: int, entries: int, subscriptions: int, generation: int
) -> dict[str, Any]:
    from bot.storage.database import Database

    async with aiohttp.ClientSession() as admin:
        params = {"generation": str(generation), "entries": str(entries)}
        async with admin.post(f"http://127.0.0.1:{port}/admin", params=params) as response:
            response.raise_for_status()
    with tempfile.TemporaryDirectory(prefix="bench-big-poll-") as tmp:
        db = await Database.open(Path(tmp) / "big.sqlite3")
        # Whatever fails, the database is closed: its threads would otherwise keep the
        # process alive after the error.
        try:
            return await measure_poll(db, args, port, entries, subscriptions, generation)
        finally:
            await db.close()


async def measure_poll(
    db: Database,
    args: argparse.Namespace,
    port: int,
    entries: int,
    subscriptions: int,
    generation: int,
) -> dict[str, Any]:
    from bot.announce.poller import FeedPoller, FetchLimits
    from bot.storage.feeds import FeedRepository, SubscriptionRepository

    await db.migrate()
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE bench_votes (at REAL)")
    feeds, subs = FeedRepository(db), SubscriptionRepository(db)
    feed_id = await feeds.create(
        f"http://127.0.0.1:{port}/feed", title="", site_url=None, now=0, next_poll_at=0
    )
    for n in range(subscriptions):
        await subs.add(
            feed_id=feed_id, guild_id=1 + n // 25, channel_id=100 + n,
            include_terms=f"{WORDS[n % 8]} \"{WORDS[(n + 1) % 8]} {WORDS[(n + 2) % 8]}\"",
            exclude_terms=WORDS[(n + 3) % 8], mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        poller = FeedPoller(
            db, session, poll_seconds=600, concurrency=16, max_failures=10,
            limits=FetchLimits(max_bytes=args.max_bytes, total_timeout=120),
        )  # fmt: skip
        try:
            # The first poll records everything as seen; the next, all new, is measured.
            feed = await feeds.get(feed_id)
            assert feed is not None
            first = await poller.poll(feed)
            assert first.status == "initialized", first
            async with aiohttp.ClientSession() as admin:
                params = {"generation": str(generation + 1), "entries": str(entries)}
                url = f"http://127.0.0.1:{port}/admin"
                async with admin.post(url, params=params) as response:
                    response.raise_for_status()
            feed = await feeds.get(feed_id)
            assert feed is not None
            probe = Probe()
            probe.time_transactions(db)
            watchers = [
                asyncio.create_task(probe.watch_loop()),
                asyncio.create_task(probe.vote(db)),
            ]
            try:
                await asyncio.sleep(0.1)
                started = time.perf_counter()
                outcome = await poller.poll(feed)
                seconds = time.perf_counter() - started
            finally:
                # Let the vote waiting for the lock the poll just released finish and count
                # (after an error too: no vote may be left writing when the database closes).
                probe.running = False
                await asyncio.gather(*watchers)
        finally:
            await poller.close()
    assert outcome.status == "new", outcome
    return {
        "poll_seconds": round(seconds, 3),
        "new_entries": outcome.new_entries,
        "announcements": outcome.announcements,
        "longest_loop_stall_ms": round(max(probe.stalls) * 1000, 1),
        "p99_loop_stall_ms": round(statistics.quantiles(probe.stalls, n=100)[98] * 1000, 1),
        "longest_vote_delay_ms": round(max(probe.vote_delays) * 1000, 1),
        "longest_write_transaction_ms": round(max(probe.transactions) * 1000, 1),
        "votes_written_during_the_poll": len(probe.vote_delays),
    }


async def scenario(
    args: argparse.Namespace, port: int, entries: int, subscriptions: int, generation: int
) -> dict[str, Any]:
    runs = [
        await one_poll(args, port, entries, subscriptions, generation + 10 * repeat)
        for repeat in range(args.repeats)
    ]
    medians = {
        key: round(statistics.median(run[key] for run in runs), 1)
        for key in runs[0]
        if key not in ("new_entries", "announcements")
    }
    return {
        "entries": entries,
        "filtered_subscriptions": subscriptions,
        "new_entries": runs[0]["new_entries"],
        "announcements": runs[0]["announcements"],
        "median": medians,
        "runs": runs,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    server = context.Process(target=_serve_in_child, args=(child_conn,), name="bench-big-feed")
    server.start()
    try:
        if not conn.poll(60):
            raise RuntimeError("the feed server did not start")
        port = conn.recv()
        report: dict[str, Any] = {
            "benchmark": "big_poll",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "bot_source": os.path.dirname(str(__import__("bot").__file__)),
            "machine": describe(),
            "scenarios": [],
        }
        cases = [(args.entries, 10), (args.entries, 24), (args.big_entries, 10)]
        for number, (entries, subscriptions) in enumerate(cases):
            report["scenarios"].append(
                await scenario(args, port, entries, subscriptions, generation=1000 * number)
            )
        report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        return report
    finally:
        with contextlib.suppress(OSError):
            conn.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=25_000)
    parser.add_argument("--big-entries", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--quick", action="store_true", help="5,000 entries, one run")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.big_entries, args.repeats = 5_000, 10_000, 1
    return args


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(asyncio.run(run(parse_args(argv))), indent=2))


if __name__ == "__main__":
    main()
