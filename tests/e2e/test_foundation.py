"""The real bot against the emulator: login, READY, sync, /help, errors, 429s, entry point."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.bot import ShortScienceBot
from tests.e2e.conftest import SpawnBot, StartBot
from tests.emulator import DiscordEmulator

ERROR_REPLY = re.compile(r"Something went wrong \(error code ([0-9A-F]{8})\)")


async def test_bot_reaches_ready_as_the_emulated_application(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    assert running_bot.is_ready()
    assert running_bot.user is not None
    assert running_bot.user.id == emulator.bot_user.id
    assert running_bot.application_id == emulator.application_id
    assert [guild.id for guild in running_bot.guilds] == [emulator.guild.id]
    session = await emulator.wait_until_connected()
    # Only the guilds intent: no privileged intents are needed.
    assert session.intents == DiscordEmulator.INTENT_GUILDS
    login = [f"{r.method} {r.route}" for r in emulator.requests[:2]]
    assert login == ["GET /users/@me", "GET /oauth2/applications/@me"]


async def test_commands_are_synced_to_the_dev_guild(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    commands = await emulator.wait_for_commands(emulator.guild)
    assert "help" in {command["name"] for command in commands}
    sync = emulator.requests_matching("PUT /applications/{app}/guilds/{guild}/commands")
    assert [request.status for request in sync] == [200]
    assert emulator.global_commands == {}
    if emulator.spec is not None:
        # The body was checked against Discord's spec (the fixture fails on violations).
        assert emulator.spec.find_operation("PUT", sync[0].path) is not None


async def test_help_answers_with_an_embed(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    interaction = await emulator.slash("/help")
    # The emulator rejects callbacks after Discord's 3 s deadline, so waiting 3 s is the limit.
    reply = await interaction.wait_reply(timeout=3.0)
    assert interaction.callback_type == 4
    assert reply.embed is not None
    assert "ShortScience" in reply.embed["title"]
    assert "/help" in reply.text
    assert reply.ephemeral


async def test_an_unexpected_error_becomes_an_ephemeral_message_with_a_code(
    emulator: DiscordEmulator, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    @app_commands.command(name="boom", description="Fails on purpose")
    async def boom(interaction: discord.Interaction) -> None:
        raise RuntimeError("kaboom")

    def add_failing_command(bot: ShortScienceBot) -> None:
        bot.tree.add_command(boom)

    await start_bot(before_start=add_failing_command)
    with caplog.at_level(logging.ERROR):
        interaction = await emulator.slash("/boom")
        reply = await interaction.wait_reply(timeout=3.0)
    assert reply.ephemeral
    match = ERROR_REPLY.search(reply.content)
    assert match is not None, reply.content
    assert "kaboom" not in reply.content
    code = match.group(1)
    logged = [r for r in caplog.records if code in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_a_rate_limited_message_send_is_retried_and_sent_once(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    papers = emulator.guild.channel("papers")
    fault = emulator.faults.rate_limit("POST /channels/{channel_id}/messages", retry_after=0.05)
    channel = running_bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send("New summary!")

    assert fault.hits == 1
    attempts = emulator.requests_matching(f"POST /channels/{papers.id}/messages")
    assert [request.status for request in attempts] == [429, 200]
    assert [m.content for m in emulator.messages(papers)] == ["New summary!"]
    assert sent.id == emulator.messages(papers)[0].id


async def test_the_entry_point_boots_answers_and_survives_a_hard_kill(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, tmp_path: Path
) -> None:
    database = tmp_path / "shared.sqlite3"
    first = await spawn_bot(database)
    reply = await (await emulator.slash("/help")).wait_reply(timeout=3.0)
    assert reply.embed is not None

    assert await first.kill() == -9
    second = await spawn_bot(database)
    assert second.session is not first.session
    reply = await (await emulator.slash("/help")).wait_reply(timeout=3.0)
    assert "ShortScience" in reply.embed["title"]  # type: ignore[index]
