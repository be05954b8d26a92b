"""Discord's global limit of 50 requests a second is per bot: two bot processes on one
PostgreSQL database (the deployment several processes are for), each behind its own
forwarding proxy (so the test can tell whose request is whose), drain a backlog of 300
announcements together against the emulator's opt-in global limit. Each takes its share
from the registry's live count (22.5 requests a second each), so Discord never answers a
global 429, while both send and together go faster than one."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.rest_budget import GlobalRequestBudget
from bot.storage import Database
from bot.storage.outbox import NewOutboxMessage, OutboxRepository
from tests.e2e.conftest import SpawnBot
from tests.emulator import Channel, DiscordEmulator, most_within
from tests.emulator.botharness import free_ports
from tests.emulator.proxy import RestProxy
from tests.emulator.rest import RequestRecord

DATABASE_ENGINES = ("postgresql",)
ANNOUNCEMENTS = 300
CHANNELS_PER_GUILD = 10
LIMIT = 50
SHARE = re.compile(r"^shortscience_rest_budget_requests_per_second (\S+)$", re.MULTILINE)
MESSAGE_POST = re.compile(r"POST /channels/\d+/messages")
LIVE = re.compile(r"^shortscience_live_processes (\S+)$", re.MULTILINE)


@pytest.fixture
async def proxies(emulator: DiscordEmulator) -> AsyncIterator[list[RestProxy]]:
    started = [await RestProxy(emulator.api_base).start() for _ in range(2)]
    yield started
    for proxy in started:
        await proxy.close()


async def metric(http: aiohttp.ClientSession, port: int, pattern: re.Pattern[str]) -> float:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        match = pattern.search(await response.text())
    return float(match.group(1)) if match else -1.0


def counted(records: list[RequestRecord]) -> list[RequestRecord]:
    """The requests Discord counts against the bot's global limit."""
    return [r for r in records if GlobalRequestBudget.counts(f"/api/v10{r.path}", r.headers)]


def guild_of(channel: Channel) -> int:
    assert channel.guild is not None
    return channel.guild.id


async def test_two_processes_share_the_global_limit_and_never_get_a_global_429(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    proxies: list[RestProxy],
    tmp_path: Path,
    bot_database: str,
) -> None:
    emulator.global_rate_limit = LIMIT
    channels: list[Channel] = []
    for shard_id in (0, 1):
        guild = emulator.add_guild(f"Group on shard {shard_id}", shard=(shard_id, 2))
        channels += [guild.add_text_channel(f"news-{n}") for n in range(CHANNELS_PER_GUILD)]
    db = await Database.open(bot_database)
    try:
        await db.migrate()
        await drain_a_backlog_together(emulator, spawn_bot, proxies, tmp_path, db, channels)
    finally:
        await db.close()


async def drain_a_backlog_together(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    proxies: list[RestProxy],
    tmp_path: Path,
    db: Database,
    channels: list[Channel],
) -> None:

    ports = free_ports(2)
    for shard_id in (0, 1):
        await spawn_bot(
            shard_count=2,
            shard_ids=str(shard_id),
            discord_api_base=proxies[shard_id].api_base,
            dev_guild_id="",
            search_index_path=tmp_path / f"index-{shard_id}",
            metrics_port=ports[shard_id],
            process_heartbeat_seconds=0.5,
            process_expiry_seconds=2.0,
        )

    # Both counted each other (the second has stopped joining): half the budget each.
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 10
        while [await metric(http, port, SHARE) for port in ports] != [22.5, 22.5]:
            assert time.monotonic() < deadline, "the processes never took half the budget each"
            await asyncio.sleep(0.2)
        assert [await metric(http, port, LIVE) for port in ports] == [2.0, 2.0]

    # A backlog both senders find (they look at the outbox every few seconds).
    requests_before = len(emulator.requests)
    rows = [
        NewOutboxMessage(
            kind="overflow",
            guild_id=guild_of(channel),
            channel_id=channel.id,
            text=f"Announcement {n} in #{channel.name}",
        )
        for n in range(ANNOUNCEMENTS // len(channels))
        for channel in channels
    ]
    await OutboxRepository(db).enqueue_many(rows, now=time.time())
    await emulator.wait_for(
        lambda: sum(len(emulator.messages(c)) for c in channels) >= ANNOUNCEMENTS,
        timeout=60,
        description=f"{ANNOUNCEMENTS} announcements posted",
    )

    # Every announcement posted once, in order (the nonce keeps two senders from doubling).
    for channel in channels:
        texts = [m.content for m in emulator.messages(channel)]
        assert texts == [
            f"Announcement {n} in #{channel.name}" for n in range(ANNOUNCEMENTS // len(channels))
        ]
    records = counted(emulator.requests[requests_before:])
    # Never over Discord's global limit, in any second.
    assert not [r for r in emulator.requests if r.fault == "global_rate_limit"]
    busiest_second = most_within(records, 1.0)
    assert busiest_second <= LIMIT
    # Both processes sent, and together faster than one process's share allows.
    posts = [
        sum(n for key, n in proxy.forwarded.items() if MESSAGE_POST.fullmatch(key))
        for proxy in proxies
    ]
    assert all(count >= ANNOUNCEMENTS // 10 for count in posts), posts
    assert busiest_second > 22.5 * 1.2
