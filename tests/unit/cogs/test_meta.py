"""`/help` lists every command once, in its section, within Discord's embed limits, with an
example for every command that takes options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
from pydantic import SecretStr

from bot.app import open_bot
from bot.bot import ShortScienceBot
from bot.config import Settings
from bot.storage.outbox import OutboxBacklog
from bot.storage.processes import LiveProcess, ProcessIdentity, ShardState
from cogs.meta import (
    EXAMPLES,
    MAX_PROCESS_FIELDS,
    MORE,
    help_embed,
    process_fields,
    shard_coverage_warning,
    status_embed,
    walk_commands,
)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[ShortScienceBot]:
    """The bot with every extension loaded, never connected."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, discord_token=SecretStr("unused"), database_path=tmp_path / "db.sqlite3"
    )
    async with open_bot(settings, background_tasks=False) as opened:
        for extension in opened.initial_extensions:
            await opened.load_extension(extension)
        yield opened


def field_values(embed: discord.Embed) -> list[str]:
    """The values of the embed's fields (each field has one)."""
    values = []
    for field in embed.fields:
        assert field.value is not None, field.name
        values.append(field.value)
    return values


async def test_help_lists_every_command_once_in_a_section(bot: ShortScienceBot) -> None:
    embed = help_embed(bot, None)
    text = "\n".join(field_values(embed))
    for command in walk_commands(bot.tree.get_commands()):
        assert text.count(f"`/{command.qualified_name}` ") == 1, command.qualified_name
    more = [field.value for field in embed.fields if field.name == MORE]
    assert more == ["`/help` — What this bot does and how to use it"]
    assert "Summarize this paper" in text
    assert len(embed) <= 6000
    assert all(len(value) <= 1024 for value in field_values(embed))


async def test_every_command_with_options_has_one_example(bot: ShortScienceBot) -> None:
    commands = {c.qualified_name: c for c in walk_commands(bot.tree.get_commands())}
    text = "\n".join(field_values(help_embed(bot, None)))
    assert set(EXAMPLES) <= set(commands), set(EXAMPLES) - set(commands)
    for name, command in commands.items():
        if command.parameters:
            example = EXAMPLES.get(name)
            assert example is not None, f"/{name} has no example in /help"
            assert example.startswith(f"/{name} ")
            assert text.count(f"e.g. `{example}`") == 1
        else:
            assert name not in EXAMPLES  # a command without options is its own example


def live_process(
    name: str, shards: tuple[int, ...], count: int | None, *, heartbeat_at: float = 995.0
) -> LiveProcess:
    return LiveProcess(
        identity=ProcessIdentity(
            process_id=name, host="box", pid=7, version="0.1.0", started_at=900.0
        ),
        shard_count=count,
        heartbeat_at=heartbeat_at,
        shards=tuple(
            ShardState(s, connected=s != 3, latency=0.0421 if s == 0 else None) for s in shards
        ),
    )


def test_status_lists_each_process_with_its_shards() -> None:
    processes = [live_process("aaa", (0, 1), 4), live_process("bbb", (2, 3), 4)]
    [(name, value)] = process_fields(processes, this_process_id="bbb", now=1000.0)
    assert name == "Bot processes (2 live)"
    assert "**`aaa`** · box pid 7 · v0.1.0 · shards 0, 1 of 4" in value
    assert "**`bbb`** (answered this) · box pid 7" in value
    assert "heartbeat 5 seconds ago · started <t:900:R>" in value
    assert "shard 0: connected, 42 ms · shard 1: connected" in value
    assert "shard 3: ⚠️ not connected" in value


def test_status_warns_of_shards_no_process_runs_and_of_disagreeing_counts() -> None:
    assert shard_coverage_warning([live_process("a", (0, 1), 2)]) is None
    assert shard_coverage_warning([live_process("a", (0,), 3)]) == (
        "⚠️ No live process runs shard(s) 1, 2 of 3: the servers on them get no answers."
    )
    assert "disagree on the shard count (2, 3)" in str(
        shard_coverage_warning([live_process("a", (0,), 2), live_process("b", (1,), 3)])
    )
    assert shard_coverage_warning([live_process("starting", (), None)]) is None


def test_many_processes_stay_within_the_embed_limits() -> None:
    processes = [live_process(f"process{n:03}", (n,), 200) for n in range(200)]
    fields = process_fields(processes, this_process_id="process000", now=1000.0)
    assert len(fields) == MAX_PROCESS_FIELDS
    assert all(len(value) <= 1024 for _, value in fields)
    assert "… and" in fields[-1][1] and "more" in fields[-1][1]
    embed = status_embed(
        [],
        here=OutboxBacklog(0, None),
        everywhere=OutboxBacklog(0, None),
        now=1000.0,
        processes=processes,
        this_process_id="process000",
    )
    assert len(embed) <= 6000
