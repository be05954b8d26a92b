"""PostgreSQL restarted in the middle of a poll cycle: what committed stays, what did not is
done at the next poll, and no entry is announced twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.announce import poller as poller_module
from bot.announce.poller import BatchWriter, FeedPoller, FetchLimits
from bot.storage import Database, DatabaseUnavailableError
from bot.storage.feeds import FeedRepository
from tests.databases import DatabaseFactory
from tests.pgserver import PostgresServer
from tests.unit.announce.test_poller import (
    Clock,
    FeedServer,
    Item,
    Route,
    add_feed,
    queued,
    server,
    shortscience_rss,
)

__all__ = ["server"]  # the fixture, used by name

FEEDS = ("a", "b", "c", "d", "e", "f")
HELD = ("d", "e", "f")  # their writes are in flight when the server goes down


@pytest.fixture
async def db(postgres_databases: DatabaseFactory) -> Database:
    return await postgres_databases.open()


@pytest.fixture
async def poller(db: Database) -> AsyncIterator[FeedPoller]:
    async with aiohttp.ClientSession() as session:
        feed_poller = FeedPoller(
            db, session, poll_seconds=60, concurrency=8, max_failures=3,
            limits=FetchLimits(total_timeout=5), clock=Clock(), rng=random.Random(0),
        )  # fmt: skip
        # One poll per transaction: some commit before the restart, some are cut by it.
        feed_poller.writer = BatchWriter(db, batch_size=1)
        yield feed_poller
        await feed_poller.close()


async def test_a_restart_mid_cycle_loses_and_doubles_nothing(
    db: Database,
    poller: FeedPoller,
    server: FeedServer,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channels = {}
    for number, name in enumerate(FEEDS):
        server.routes[f"/{name}"] = Route(shortscience_rss([Item(f"{name}/old")]))
        # A server each: held feeds wait (in a fetch slot) for the others to be written,
        # which in one server, two fetches at a time, they could starve.
        _, _ = await add_feed(
            db,
            server.url(f"/{name}"),
            [100 + 2 * number, 101 + 2 * number],
            guild=1000 + number,
        )
        channels[name] = (100 + 2 * number, 101 + 2 * number)
    assert {o.status for o in await poller.poll_due()} == {"initialized"}

    for name in FEEDS:
        items = [Item(f"{name}/new{n}", title=f"{name} new {n}") for n in (3, 2, 1)]
        server.routes[f"/{name}"] = Route(shortscience_rss([*items, Item(f"{name}/old")]))
    poller.clock.now += 3600  # type: ignore[attr-defined]

    # The poller writes one transaction at a time (BatchWriter): a, b and c are written
    # first; d is held inside its transaction when the server goes; e and f come after.
    others_written, held_writing, server_down = asyncio.Event(), asyncio.Event(), asyncio.Event()
    written = 0
    real_ingest, real_fetch = poller_module.ingest_entries, poller.fetch

    def name_of(entries: Any) -> str:
        return str(entries[0].external_id.split("?bibtexKey=")[1][0])

    async def ingest(db: Database, entries: Any, **options: Any) -> Any:
        nonlocal written
        if entries and name_of(entries) in HELD:
            held_writing.set()
            await server_down.wait()  # inside its transaction, when the server goes
        stats = await real_ingest(db, entries, **options)
        if entries and name_of(entries) not in HELD:
            written += 1
            if written == len(FEEDS) - len(HELD):
                others_written.set()
        return stats

    async def fetch(url: str, **options: Any) -> Any:
        if url.rsplit("/", 1)[1] in HELD:
            await others_written.wait()
        return await real_fetch(url, **options)

    monkeypatch.setattr(poller_module, "ingest_entries", ingest)
    monkeypatch.setattr(poller, "fetch", fetch)
    cycle = asyncio.create_task(poller.poll_due())
    await asyncio.wait_for(held_writing.wait(), 20)
    await asyncio.to_thread(postgres_server.stop)  # ends every session: the held writes die
    server_down.set()
    try:
        outcomes = {o.feed_id: o for o in await asyncio.wait_for(cycle, 30)}
    finally:
        await asyncio.to_thread(postgres_server.start_again)
    feeds = FeedRepository(db)
    by_name = {name: await feeds.get_by_url(server.url(f"/{name}")) for name in FEEDS}
    for name, feed in by_name.items():
        assert feed is not None
        expected = "failed" if name in HELD else "new"
        assert outcomes[feed.id].status == expected, (name, outcomes[feed.id])
    monkeypatch.setattr(poller_module, "ingest_entries", real_ingest)
    monkeypatch.setattr(poller, "fetch", real_fetch)

    # Nothing committed was lost; the cut polls are still due and are done now.
    assert sorted(o.status for o in await poller.poll_due()) == ["new"] * len(HELD)
    assert await poller.poll_due() == []
    for name in FEEDS:
        for channel in channels[name]:
            assert await queued(db, channel) == [
                ("summary", f"{name} new {n}") for n in (1, 2, 3)
            ], (name, channel)


async def test_a_down_database_is_reported_as_unavailable_then_works_again(
    db: Database, postgres_server: PostgresServer
) -> None:
    assert await db.fetchval("SELECT 1") == 1
    await asyncio.to_thread(postgres_server.stop)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await db.fetchval("SELECT 1")
        with pytest.raises(DatabaseUnavailableError):
            async with db.transaction() as conn:
                await conn.execute("SELECT 1")
    finally:
        await asyncio.to_thread(postgres_server.start_again)
    assert await db.fetchval("SELECT 2") == 2  # the pool opens fresh connections
    async with db.transaction() as conn:
        assert await conn.fetchval("SELECT 3") == 3
