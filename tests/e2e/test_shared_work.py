"""Three bot processes (`python -m bot run`) on one PostgreSQL database share the polling of
60 feeds subscribed in 30 channels of six servers, and the sending of their announcements:
every new entry is announced exactly once in each channel, the polls are spread over the
processes, and when one is killed with SIGKILL in the middle of a poll cycle the others take
its feeds and announcements over once its leases have expired, still exactly once; the
global rate stays under Discord's 50 requests a second (the emulator enforces it).

The three processes are the bot's three shards (`SHARD_COUNT=3`, `SHARD_IDS=0`, `1`, `2`),
two of the six servers on each: a process receives only its servers' events, yet polls and
sends for any server (the subscriptions are written through the repositories, as `/feed add`
would).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.storage import Database
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from tests.e2e.conftest import SpawnBot
from tests.emulator import Channel, DiscordEmulator
from tests.emulator.botharness import BotProcess
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import Item, shortscience_rss

DATABASE_ENGINES = ("postgresql",)

T = TypeVar("T")

__all__ = ["feed_server"]  # the fixture, used by name

SERVERS, CHANNELS_PER_SERVER, FEEDS_PER_CHANNEL, SHARDS = 6, 5, 2, 3
LEASE_SECONDS = 3
SETTINGS = {
    "feed_poll_seconds": 2,
    "lease_seconds": LEASE_SECONDS,
    "feed_concurrency": 4,
    "feed_guild_concurrency": 4,
    # Three processes without a shared REST proxy: each takes a third of the global budget.
    "outbox_sends_per_second": 15,
}


@dataclass
class World:
    channels: list[Channel]
    feed_names: list[str]  # feed i is subscribed in channels[i // FEEDS_PER_CHANNEL]


def owner_of(process: BotProcess, owners: list[str]) -> str:
    """The owner id (hostname-pid-random) a bot process takes its leases as."""
    assert process.process is not None
    [owner] = [owner for owner in owners if f"-{process.process.pid}-" in owner]
    return owner


def titles(emulator: DiscordEmulator, channel: Channel) -> list[str]:
    return [m.embed["title"] for m in emulator.messages(channel) if m.embed]


async def build_world(emulator: DiscordEmulator, server: FeedServer, database: str) -> World:
    # Two servers on each shard.
    guilds = [
        emulator.add_guild(f"Server {n + 1}", shard=(n % SHARDS, SHARDS)) for n in range(SERVERS)
    ]
    placed = [
        (guild.id, guild.add_text_channel(f"papers-{number}"))
        for guild in guilds
        for number in range(CHANNELS_PER_SERVER)
    ]
    channels = [channel for _, channel in placed]
    names = [f"shared{n}" for n in range(len(channels) * FEEDS_PER_CHANNEL)]
    db = await Database.open(database)
    try:
        await db.migrate()
        feeds, subscriptions = FeedRepository(db), SubscriptionRepository(db)
        now = time.time()
        for number, name in enumerate(names):
            url = server.set_feed(name, shortscience_rss([Item(f"{name}/old", title="Old")]))
            feed_id = await feeds.create(url, title=name, site_url=None, now=now, next_poll_at=now)
            guild_id, channel = placed[number // FEEDS_PER_CHANNEL]
            await subscriptions.add(
                feed_id=feed_id, guild_id=guild_id, channel_id=channel.id,
                include_terms="", exclude_terms="", mention_role_id=None, created_by=None,
                now=now,
            )  # fmt: skip
    finally:
        await db.close()
    return World(channels, names)


ROUNDS = ["first", "second"]


def publish(server: FeedServer, world: World, round_name: str) -> None:
    """A new entry in every feed (newest first, above those of the earlier rounds)."""
    published = ROUNDS[: ROUNDS.index(round_name) + 1]
    for name in world.feed_names:
        items = [Item(f"{name}/{r}", title=f"{name} {r}") for r in reversed(published)]
        server.set_feed(name, shortscience_rss([*items, Item(f"{name}/old", title="Old")]))


def expected(world: World, channel_index: int, rounds: list[str]) -> Counter[str]:
    names = world.feed_names[
        channel_index * FEEDS_PER_CHANNEL : (channel_index + 1) * FEEDS_PER_CHANNEL
    ]
    return Counter(f"{name} {r}" for r in rounds for name in names)


async def wait_for_announcements(
    emulator: DiscordEmulator, world: World, rounds: list[str], within: float
) -> None:
    wanted = [expected(world, index, rounds) for index in range(len(world.channels))]
    await emulator.wait_for(
        lambda: all(
            sum(Counter(titles(emulator, channel)).values()) >= sum(wanted[index].values())
            for index, channel in enumerate(world.channels)
        ),
        timeout=within,
        description=f"the announcements of rounds {rounds} in all 30 channels",
    )


async def test_three_processes_share_feeds_and_announcements_exactly_once_through_a_kill(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, bot_database: str
) -> None:
    emulator.global_rate_limit = 50
    emulator.recommended_shards = SHARDS
    emulator.max_concurrency = SHARDS  # the three may IDENTIFY at once
    world = await build_world(emulator, feed_server, bot_database)
    processes = [
        await spawn_bot(bot_database, shard_count=SHARDS, shard_ids=str(shard), **SETTINGS)
        for shard in range(SHARDS)
    ]
    # Each process runs its own shard and gets only its servers.
    await emulator.wait_for_shards(list(range(SHARDS)), SHARDS, timeout=60)
    db = await Database.open(bot_database)
    try:
        await until(lambda: _initialized(db), within=60, description="every feed initialised")

        # Round one: all three processes alive (they started one after the other: the
        # spread is measured from here).
        since = time.time()
        publish(feed_server, world, "first")
        await wait_for_announcements(emulator, world, ["first"], within=60)
        await asyncio.sleep(5)  # and a few more cycles of polls finding nothing new
        counts = await FeedRepository(db).poll_counts(since=since)
        owners = [owner_of(process, list(counts)) for process in processes]
        total = sum(counts.values())
        for owner in owners:
            assert 0.2 <= counts[owner] / total <= 0.5, counts

        # Round two: polls are slow; the first process is killed while it holds feeds.
        victim, victim_owner = processes[0], owners[0]
        feed_server.dynamic_delay = 1.0
        publish(feed_server, world, "second")
        held = await until(
            lambda: _leased_by(db, victim_owner), within=30, description="a poll by the victim"
        )
        assert await victim.kill() == -9
        killed_at = time.time()
        await wait_for_announcements(emulator, world, ["first", "second"], within=90)
        feed_server.dynamic_delay = 0.0
        await asyncio.sleep(2 * LEASE_SECONDS)  # a second announcement would come by now

        for index, channel in enumerate(world.channels):
            assert Counter(titles(emulator, channel)) == expected(
                world, index, ["first", "second"]
            ), channel.name
        # The feeds the victim held when it died were polled by the others after it.
        rows = await db.fetchall(
            "SELECT feed_id, polled_by FROM feed_poll_log WHERE polled_at > ? AND outcome = 'new'",
            (killed_at,),
        )
        taken_over = {row[0] for row in rows if row[1] in owners[1:]}
        assert set(held) <= taken_over, (held, rows)
        global_429 = [r for r in emulator.requests if r.fault == "global_rate_limit"]
        assert global_429 == []
        sends = [r.at for r in emulator.requests if r.method == "POST" and r.status == 200]
        assert _most_in_a_second(sends) < 50
    finally:
        await db.close()


async def until(check: Callable[[], Awaitable[T | None]], *, within: float, description: str) -> T:
    """Wait until `check()` (a database query) gives something truthy, and return it."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {description}")
        await asyncio.sleep(0.05)


async def _initialized(db: Database) -> bool:
    count = await db.fetchval("SELECT count(*) FROM feeds WHERE initialized = 1")
    return int(count) == SERVERS * CHANNELS_PER_SERVER * FEEDS_PER_CHANNEL


async def _leased_by(db: Database, owner: str) -> list[int] | None:
    rows = await db.fetchall(
        "SELECT id FROM feeds WHERE lease_owner = ? AND lease_expires_at > ?",
        (owner, time.time()),
    )
    return [int(row[0]) for row in rows] or None


def _most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
