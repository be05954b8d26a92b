"""Background loops survive what they did not expect, and `/status` shows how they and the
announcement outbox are doing (issue 8, item 17)."""

from __future__ import annotations

import logging
import time

import pytest

from bot.bot import ShortScienceBot
from bot.storage.outbox import OutboxRepository
from tests.e2e.conftest import StartBot
from tests.emulator import DiscordEmulator, Message


class IndexFilesVanished(RuntimeError):
    """Not a database error: the index upkeep loop used to catch only sqlite3.Error and die."""


def field(message: Message, name_part: str) -> dict[str, str]:
    assert message.embed is not None
    found = [f for f in message.embed["fields"] if name_part in f["name"]]
    assert found, [f["name"] for f in message.embed["fields"]]
    return found[0]


async def test_a_failing_loop_is_logged_carries_on_and_status_shows_it(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot: ShortScienceBot = await start_bot()  # background loops on
    assert [s.name for s in bot.loops.statuses()] == [
        "search indexer",
        "process heartbeat",
        "feed poller",
        "announcement sender",
        "outbox pruning",
        "reading reminders",
        "paper enrichment",
    ]
    calls: list[int] = []
    indexer = bot.loops.get("search indexer")
    assert indexer is not None and indexer is bot.search.indexer
    real_cycle = bot.search._cycle_work

    def flaky_cycle() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise IndexFilesVanished("the index files vanished")
        real_cycle()

    monkeypatch.setattr(bot.search, "_cycle_work", flaky_cycle)
    with caplog.at_level(logging.ERROR):
        indexer.run_soon()
        await emulator.wait_for(lambda: len(calls) >= 3, timeout=15)
    assert indexer.running
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is IndexFilesVanished]
    assert len(logged) == 1 and "search indexer" in logged[0].getMessage()
    status = indexer.status()
    assert status.last_error == "IndexFilesVanished: the index files vanished"
    assert not status.failing and status.last_success_at is not None

    # The sender stopped (still listed) and two announcements of this server waiting.
    sender = bot.loops.get("announcement sender")
    assert sender is not None
    await sender.stop()
    papers = emulator.guild.channel("papers")
    outbox = OutboxRepository(bot.db)
    for _ in range(2):
        await outbox.enqueue(
            kind="notice",
            guild_id=emulator.guild.id,
            channel_id=papers.id,
            text="waiting",
            now=time.time() - 150,
        )

    mod = emulator.guild.member("mod")
    reply = await (await emulator.slash("/status", member=mod)).wait_reply(timeout=10)
    assert reply.ephemeral
    indexer_field = field(reply, "search indexer")
    assert indexer_field["name"].startswith("✅")
    assert "last error <t:" in indexer_field["value"]
    assert "IndexFilesVanished: the index files vanished" in indexer_field["value"]
    assert "last success <t:" in indexer_field["value"]
    assert field(reply, "feed poller")["name"].startswith("✅")
    sender_field = field(reply, "announcement sender")
    assert sender_field["name"].startswith("⏹️") and "stopped" in sender_field["value"]
    backlog = field(reply, "Announcement outbox")["value"]
    assert "This server: **2** waiting · the oldest for 3 minutes" in backlog
    assert "All servers: **2** waiting" in backlog


async def test_status_needs_manage_server(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    reply = await (await emulator.slash("/status", member=alice)).wait_reply(timeout=10)
    assert reply.ephemeral and "Manage Server" in reply.content
    commands = {c["name"]: c for c in await emulator.wait_for_commands(emulator.guild)}
    assert commands["status"]["default_member_permissions"] == str(1 << 5)
    mod = emulator.guild.member("mod")
    shown = await (await emulator.slash("/status", member=mod)).wait_reply(timeout=10)
    assert "This server: nothing waiting" in field(shown, "Announcement outbox")["value"]
