# Waits take `timeout=` on purpose, as in the emulator's own helpers.
# ruff: noqa: ASYNC109
"""Two bot processes (`python -m bot run`), each running one shard of a 2-shard bot, on one
database (PostgreSQL, the deployment several processes are for, and an SQLite file) and
behind one shared REST proxy (DISCORD_API_BASE): each guild's commands
and buttons are answered by the process running its shard, `/status` lists both processes,
the registry forgets a killed process after the expiry and a stopped one (SIGTERM) at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord.gateway import DiscordWebSocket

from bot.app import sync_commands
from bot.ingest import import_source
from bot.storage import Database
from bot.storage.processes import LiveProcess, ProcessRegistry
from tests.e2e.conftest import SpawnBot
from tests.e2e.search_seed import SAMPLE_FEED, SAMPLE_SUMMARIES
from tests.emulator import DiscordEmulator, Guild, InteractionHandle, Message, Permission
from tests.emulator.botharness import BotProcess, free_ports, make_settings
from tests.emulator.proxy import PROXY_HEADER, RestProxy

EXPIRY = 2.0
DATABASE_ENGINES = ("sqlite", "postgresql")


@pytest.fixture
async def proxy(emulator: DiscordEmulator) -> AsyncIterator[RestProxy]:
    proxy = await RestProxy(emulator.api_base).start()
    yield proxy
    await proxy.close()


async def shared_database(
    emulator: DiscordEmulator, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database both processes use, with summaries to list, and the slash commands
    published globally once, as an operator does with `shortscience-bot sync`."""
    db = await Database.open(path)
    try:
        await db.migrate()
        stats = await import_source(db, None, str(SAMPLE_FEED))
        assert stats.inserted == SAMPLE_SUMMARIES
    finally:
        await db.close()
    # sync_commands points discord.py's process-wide endpoints at the emulator: put them back.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    settings = make_settings(
        emulator, path, dev_guild_id=None, search_index_path=tmp_path / "sync-index"
    )
    assert await sync_commands(settings, None) > 0


async def live(path: str) -> list[LiveProcess]:
    db = await Database.open(path)
    try:
        return await ProcessRegistry(db, expiry=EXPIRY).live_processes(time.time())
    finally:
        await db.close()


async def registered_rows(path: str) -> int:
    db = await Database.open(path)
    try:
        return int(await db.fetchval("SELECT count(*) FROM bot_processes"))
    finally:
        await db.close()


def processes_field(message: Message) -> str:
    assert message.embed is not None
    fields = [f for f in message.embed["fields"] if f["name"].startswith("Bot processes")]
    assert fields, [f["name"] for f in message.embed["fields"]]
    return "\n".join(f["name"] + "\n" + f["value"] for f in fields)


async def status(emulator: DiscordEmulator, guild: Guild) -> str:
    handle = await emulator.slash(
        "/status", guild=guild, member=guild.member("mod"), permissions=Permission.MANAGE_GUILD
    )
    return processes_field(await handle.wait_reply(5.0))


def received_by(process: BotProcess, handle: InteractionHandle) -> bool:
    return any(
        event["t"] == "INTERACTION_CREATE" and event["d"]["id"] == str(handle.id)
        for session in process.sessions
        for event in session.events
    )


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Wait until `await check()` is true (asked every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


async def health(session: aiohttp.ClientSession, port: int) -> tuple[int, dict[str, Any]]:
    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_two_processes_each_run_one_shard_of_two(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    proxy: RestProxy,
    tmp_path: Path,
    bot_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guilds: dict[int, Guild] = {}
    for shard_id in (0, 1):
        guild = emulator.add_guild(f"Group on shard {shard_id}", shard=(shard_id, 2))
        guild.add_text_channel("general")
        guild.add_member("reader")
        guild.add_member("mod")
        guilds[shard_id] = guild
    database = bot_database
    await shared_database(emulator, database, tmp_path, monkeypatch)
    requests_before = len(emulator.requests)

    ports = free_ports(2)
    processes = [
        await spawn_bot(
            database,
            shard_count=2,
            shard_ids=str(shard_id),
            # Both behind one REST proxy (Discord's limits are per bot, not per process).
            discord_api_base=proxy.api_base,
            dev_guild_id="",
            search_index_path=tmp_path / f"index-{shard_id}",
            metrics_port=ports[shard_id],
            process_heartbeat_seconds=0.5,
            process_expiry_seconds=EXPIRY,
        )
        for shard_id in (0, 1)
    ]
    assert [[s.shard for s in p.sessions] for p in processes] == [[(0, 2)], [(1, 2)]]

    # Each process, once ready, is healthy and says who it is on /healthz.
    async with aiohttp.ClientSession() as http:

        async def both_healthy() -> bool:
            return all([(await health(http, port))[0] == 200 for port in ports])

        await until(both_healthy, "both processes healthy")
        answers = [await health(http, port) for port in ports]
    ids = [body["process"]["id"] for _, body in answers]
    assert [body["process"]["shard_ids"] for _, body in answers] == [[0], [1]]

    async def both_connected() -> bool:
        found = {p.process_id: p for p in await live(database)}
        return set(found) == set(ids) and all(
            shard.connected for p in found.values() for shard in p.shards
        )

    await until(both_connected, "both processes registered with their shards connected")

    for shard_id, guild in guilds.items():
        owner, other = processes[shard_id], processes[1 - shard_id]
        # /status: both processes, the one that answered marked.
        shown = await status(emulator, guild)
        assert "Bot processes (2 live)" in shown
        assert f"**`{ids[shard_id]}`** (answered this)" in shown
        assert f"**`{ids[1 - shard_id]}`** ·" in shown
        assert "shards 0 of 2" in shown and "shards 1 of 2" in shown
        assert "shard 0: connected" in shown and "shard 1: connected" in shown
        # A list with buttons, paged by the same process.
        latest = await emulator.slash("/latest", guild=guild, member=guild.member("reader"))
        listed = await latest.wait_reply(5.0)
        turned = await emulator.click(listed, label="Next", member=guild.member("reader"))
        await turned.wait_callback(3.0)
        await emulator.wait_for(lambda m=listed: "page 2 of" in m.embed["footer"]["text"])
        for handle in (latest, turned):
            assert received_by(owner, handle) and not received_by(other, handle)

    # Everything the two processes asked of Discord went through the shared proxy.
    theirs = emulator.requests[requests_before:]
    assert theirs and all(r.headers.get(PROXY_HEADER) == "test-proxy" for r in theirs)
    # Interaction callbacks included (2 guilds x /status, /latest and Next).
    assert sum(n for key, n in proxy.forwarded.items() if key.endswith("/callback")) == 6

    # Killed: the process stays listed until its heartbeat expires, then is pruned by the
    # other, and /status says its shard has no process.
    await processes[1].kill()
    assert "(2 live)" in await status(emulator, guilds[0])

    async def one_live() -> bool:
        return "(1 live)" in await status(emulator, guilds[0])

    await until(one_live, "/status to list one live process", timeout=EXPIRY + 5)
    assert "No live process runs shard(s) 1 of 2" in await status(emulator, guilds[0])

    async def pruned() -> bool:
        return await registered_rows(database) == 1

    await until(pruned, "the dead process's row to be pruned")

    # Stopped cleanly (SIGTERM, as a service manager does): gone from the registry at once.
    assert await processes[0].terminate() == 0
    assert await registered_rows(database) == 0
    assert "SIGTERM: stopping" in processes[0].output
