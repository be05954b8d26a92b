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
from tests.emulator.interactions import (
    CommandContext,
    Resolver,
    build_command_options,
    parse_option_text,
    split_command_line,
)

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


async def test_help_gives_an_example_for_every_command_that_discord_accepts(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    reply = await (await emulator.slash("/help")).wait_reply(timeout=3.0)
    lines = [
        line
        for field in reply.embed["fields"]  # type: ignore[index]
        for line in field["value"].splitlines()
        if line.startswith("`/")
    ]
    synced = emulator.commands_for(emulator.guild)
    leaves = {" ".join(path) for path in command_paths(synced)}
    shown = {line.split("`")[1].lstrip("/") for line in lines}
    assert shown == leaves  # every command, once
    emulator.guild.add_role("reading-group")
    for line in lines:
        name = line.split("`")[1].lstrip("/")
        example = line.split(" · e.g. `")[1].rstrip("`") if " · e.g. `" in line else None
        if example is None:
            # Only commands without options go without an example: they are their own.
            assert not leaf_options(synced, name), name
            continue
        assert example.startswith(f"/{name} ")
        # Typed into Discord's client as it is: a real command with valid options.
        _, path, leaf, text = split_command_line(example, synced)
        values = parse_option_text(text, leaf)
        assert values, example
        build_command_options(emulator, path, leaf, dict(values), Resolver(context_for(emulator)))


def command_paths(commands: list[dict], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The full name of every leaf slash command (groups opened)."""
    found: list[tuple[str, ...]] = []
    for command in commands:
        if (command.get("type") or 1) not in (1,) and prefix == ():
            continue
        path = (*prefix, command["name"])
        children = [o for o in command.get("options") or [] if o.get("type") in (1, 2)]
        found.extend(command_paths(children, path) if children else [path])
    return found


def leaf_options(commands: list[dict], name: str) -> list[dict]:
    words = name.split()
    nodes = [c for c in commands if (c.get("type") or 1) == 1]
    node: dict = {}
    for word in words:
        node = next(n for n in nodes if n["name"] == word)
        nodes = node.get("options") or []
    return [o for o in node.get("options") or [] if o.get("type") not in (1, 2)]


def context_for(emulator: DiscordEmulator) -> CommandContext:
    return emulator._context(guild=None, channel=None, member=None, user=None)


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
