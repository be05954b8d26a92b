"""`/help` lists every command once, in its section, within Discord's embed limits, with an
example for every command that takes options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import open_bot
from bot.bot import ShortScienceBot
from bot.config import Settings
from cogs.meta import EXAMPLES, MORE, help_embed, walk_commands


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[ShortScienceBot]:
    """The bot with every extension loaded, never connected."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, discord_token="unused", database_path=tmp_path / "db.sqlite3"
    )
    async with open_bot(settings, background_tasks=False) as opened:
        for extension in opened.initial_extensions:
            await opened.load_extension(extension)
        yield opened


async def test_help_lists_every_command_once_in_a_section(bot: ShortScienceBot) -> None:
    embed = help_embed(bot, None)
    text = "\n".join(field.value for field in embed.fields)
    for command in walk_commands(bot.tree.get_commands()):
        assert text.count(f"`/{command.qualified_name}` ") == 1, command.qualified_name
    more = [field.value for field in embed.fields if field.name == MORE]
    assert more == ["`/help` — What this bot does and how to use it"]
    assert "Summarize this paper" in text
    assert len(embed) <= 6000
    assert all(len(field.value) <= 1024 for field in embed.fields)


async def test_every_command_with_options_has_one_example(bot: ShortScienceBot) -> None:
    commands = {c.qualified_name: c for c in walk_commands(bot.tree.get_commands())}
    text = "\n".join(field.value for field in help_embed(bot, None).fields)
    assert set(EXAMPLES) <= set(commands), set(EXAMPLES) - set(commands)
    for name, command in commands.items():
        if command.parameters:
            example = EXAMPLES.get(name)
            assert example is not None, f"/{name} has no example in /help"
            assert example.startswith(f"/{name} ")
            assert text.count(f"e.g. `{example}`") == 1
        else:
            assert name not in EXAMPLES  # a command without options is its own example
