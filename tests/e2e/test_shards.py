"""The bot sharded against the emulator: several shards in one process (SHARD_COUNT, or every
shard Discord recommends), IDENTIFYs paced by `max_concurrency` across processes, the session
start limit waited out, and each guild answered on its own shard."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from bot.bot import ShortScienceBot
from tests.databases import DatabaseFactory
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import import_sample
from tests.emulator import DiscordEmulator, Guild, InteractionHandle
from tests.emulator.botharness import make_settings
from tests.emulator.gateway import GatewaySession


def shard_guilds(emulator: DiscordEmulator, shard_count: int) -> dict[int, Guild]:
    """One new guild on each shard, with a channel and a member to act as."""
    guilds = {}
    for shard_id in range(shard_count):
        guild = emulator.add_guild(f"Group on shard {shard_id}", shard=(shard_id, shard_count))
        guild.add_text_channel("general")
        guild.add_member(f"reader{shard_id}")
        guilds[shard_id] = guild
    return guilds


def receivers(sessions: list[GatewaySession], handle: InteractionHandle) -> list[int]:
    """The shards whose sessions were sent this interaction."""
    return [
        session.shard_id
        for session in sessions
        if any(
            event["t"] == "INTERACTION_CREATE" and event["d"]["id"] == str(handle.id)
            for event in session.events
        )
    ]


async def test_two_shards_in_one_process_answer_each_guild_on_its_shard(
    emulator: DiscordEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    emulator.max_concurrency = 2  # both shards may IDENTIFY at once
    guilds = shard_guilds(emulator, 2)
    bot = await start_bot(make_settings(emulator, tmp_path / "bot.sqlite3", shard_count=2))
    sessions = await emulator.wait_for_shards([0, 1], 2)
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert [shard_id for shard_id, _ in bot.latencies] == [0, 1]
    assert bot.session_start_limit is not None and bot.session_start_limit.max_concurrency == 2
    for shard_id, guild in guilds.items():
        known = bot.get_guild(guild.id)
        assert known is not None and known.shard_id == shard_id
    # The dev guild's commands were synced by this process (it runs the dev guild's shard);
    # the other guilds get the global ones.
    await bot.sync_commands(None)
    for shard_id, guild in guilds.items():
        handle = await emulator.slash("/help", guild=guild)
        reply = await handle.wait_reply(3.0)
        assert reply.embed is not None and "ShortScience" in reply.embed["title"]
        assert receivers(sessions, handle) == [shard_id]


async def test_every_recommended_shard_runs_in_one_process_identifying_in_turn(
    emulator: DiscordEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    # No SHARD_COUNT: the bot runs the 3 shards GET /gateway/bot recommends. max_concurrency 1:
    # one IDENTIFY per interval (the emulator refuses faster ones, failing the test).
    emulator.recommended_shards = 3
    emulator.identify_interval = 0.3
    guilds = shard_guilds(emulator, 3)
    bot = await start_bot(make_settings(emulator, tmp_path / "bot.sqlite3"))
    assert emulator.requests_matching("GET /gateway/bot")
    sessions = await emulator.wait_for_shards(range(3), 3)
    assert bot.shard_count == 3 and bot.shard_ids == [0, 1, 2] and bot.is_ready()
    starts = [s.identified_at for s in sorted(sessions, key=lambda s: s.shard_id)]
    assert all(later - earlier >= 0.29 for earlier, later in itertools.pairwise(starts))
    assert emulator.gateway.refused_identifies == 0

    await import_sample(bot)
    await bot.sync_commands(None)
    for shard_id, guild in guilds.items():
        latest = await emulator.slash("/latest", guild=guild)
        shown = await latest.wait_reply(3.0)
        assert receivers(sessions, latest) == [shard_id]
        # A button on that shard's message is answered too.
        turned = await emulator.click(shown, label="Next")
        await turned.wait_callback(3.0)
        assert receivers(sessions, turned) == [shard_id]
        await emulator.wait_for(lambda m=shown: "page 2 of" in m.embed["footer"]["text"])


async def test_two_processes_on_one_database_take_turns_to_identify(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    tmp_path: Path,
    postgres_databases: DatabaseFactory,
) -> None:
    """Two bots (as two processes would) with one shard each of 2, started at the same
    moment on one PostgreSQL database: bucket 0 holds both (max_concurrency 1), so their
    IDENTIFYs are one interval apart although neither knows of the other but through the
    database. (The slots on SQLite: tests/unit/storage/test_processes.py.)"""
    emulator.identify_interval = 1.0
    database = await postgres_databases.url()
    settings = [
        make_settings(
            emulator,
            database,
            shard_count=2,
            shard_ids=str(shard_id),
            search_index_path=tmp_path / f"index-{shard_id}",
        )
        for shard_id in (0, 1)
    ]
    bots = await asyncio.gather(*(start_bot(s) for s in settings))
    sessions = await emulator.wait_for_shards([0, 1], 2)
    assert abs(sessions[0].identified_at - sessions[1].identified_at) >= 0.99
    assert emulator.gateway.refused_identifies == 0
    assert [bot.shard_ids for bot in bots] == [[0], [1]]


async def test_the_bot_waits_for_session_starts_rather_than_lose_its_token(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.exhaust_session_starts(reset_after=1.0)
    token = emulator.token
    with caplog.at_level(logging.ERROR, logger="bot.bot"):
        bot = await start_bot(make_settings(emulator, tmp_path / "bot.sqlite3"))
    assert bot.is_ready() and emulator.token == token  # never reset
    assert any("session start(s)" in r.getMessage() for r in caplog.records)
    session = await emulator.wait_until_connected()
    # It identified after the limit had reset.
    assert emulator.gateway_bot_payload()["session_start_limit"]["remaining"] == 999
    assert session.ready


async def test_a_dropped_shard_resumes_while_the_other_keeps_serving(
    emulator: DiscordEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    emulator.max_concurrency = 2
    guilds = shard_guilds(emulator, 2)
    bot: ShortScienceBot = await start_bot(
        make_settings(emulator, tmp_path / "bot.sqlite3", shard_count=2)
    )
    await bot.sync_commands(None)
    await emulator.drop_connection(shard_id=1)
    # Shard 0 still answers while shard 1 comes back.
    reply = await (await emulator.slash("/help", guild=guilds[0])).wait_reply(3.0)
    assert reply.embed is not None
    resumed = await emulator.wait_for_resume()
    assert resumed.shard_id == 1
    reply = await (await emulator.slash("/help", guild=guilds[1])).wait_reply(3.0)
    assert reply.embed is not None
    assert emulator.gateway.identify_count == 2  # resumed, not identified again
