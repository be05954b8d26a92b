"""`shortscience-bot migrate-data`: a bot's SQLite database copied into PostgreSQL, and every
command then shows the same as before (ids, scores, votes, sessions, feeds, search)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.bot import ShortScienceBot
from bot.storage.interactions import STATE_ID_PATTERN
from bot.storage.transfer import TABLES
from tests.databases import DatabaseFactory
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import import_sample
from tests.e2e.test_community import summary_id_of, write
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import PROJECT_ROOT, SETTINGS_ENV_PREFIXES, make_settings
from tests.feedserver import FeedServer, feed_server
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name

RANDOM_ID = re.compile(r"[0-9a-f]{32}")
# The id of an interaction state (a result list's query) inside a custom_id: new each time.
STATE_ID = re.compile(rf"(?<=:){STATE_ID_PATTERN}(?=:|$)")


async def start(start_bot: StartBot, settings: Any) -> ShortScienceBot:
    """The whole bot, its loops off (the test drives them), the outbox sender on."""
    bot = await start_bot(settings, background_tasks=False)
    feeds = bot.get_cog("FeedsCog")
    assert feeds is not None
    feeds.start_sender()  # type: ignore[attr-defined]
    return bot


async def everything_shown(emulator: DiscordEmulator, summary_id: int) -> list[Any]:
    """What the read commands answer, to a moderator and to the summary's author."""
    guild = emulator.guild
    mod, alice = guild.member("mod"), guild.member("alice")
    shown = []
    for line, member in (
        ("/latest", mod),
        ("/top period:all", mod),
        ("/search query:normalization", mod),
        (f"/summary view id:{summary_id}", mod),
        ("/paper id:1502.03167", mod),
        ("/feed list", mod),
        ("/mysummaries", alice),
        ("/leaderboard period:all", mod),
        ("/reading status", alice),
    ):
        reply = await (await emulator.slash(line, member=member)).wait_reply(10.0)
        shown.append((line, reply.content, reply.embeds, without_random_ids(reply.components)))
    return shown


def without_random_ids(value: Any) -> Any:
    """Components with discord.py's random custom ids (of views not meant to outlive the
    process) and the ids of interaction states in custom ids blanked: they differ between
    any two runs."""
    if isinstance(value, list):
        return [without_random_ids(item) for item in value]
    if isinstance(value, dict):
        return {
            key: _blank_custom_id(str(item)) if key == "custom_id" else without_random_ids(item)
            for key, item in value.items()
        }
    return value


def _blank_custom_id(custom_id: str) -> str:
    if RANDOM_ID.fullmatch(custom_id):
        return "<random>"
    return STATE_ID.sub("<state>", custom_id)


async def test_sqlite_to_postgresql_then_every_command_shows_the_same(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    tmp_path: Path,
    arxiv: ArxivFixtureServer,
    feed_server: FeedServer,
    postgres_databases: DatabaseFactory,
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    options = {"arxiv_api_url": arxiv.url, "arxiv_min_interval": 0}
    old = tmp_path / "old.sqlite3"
    bot = await start(start_bot, make_settings(emulator, old, **options))
    await import_sample(bot)
    card = await write(emulator, alice, "1502.03167", tldr="Normalise every mini-batch.")
    summary_id = summary_id_of(card)
    vote = await emulator.click(card, custom_id=f"ss:vote:{summary_id}:up", member=mod)
    await vote.wait_followup()
    started = await emulator.slash(
        "/reading start paper:1706.03762 due:3d", options={"channel": guild.channel("papers")},
        member=alice,
    )  # fmt: skip
    assert "Reading session" in (await started.wait_reply()).content
    url = feed_server.set_feed("ss", shortscience_rss([Item("feed/1", title="From a feed")]))
    added = await emulator.slash(f"/feed add url:{url} channel:#general", member=mod)
    assert "Subscribed" in (await added.wait_reply(timeout=15)).content
    before = await everything_shown(emulator, summary_id)
    rows_before = {
        table: await bot.db.fetchval(f"SELECT count(*) FROM {table}") for table, _ in TABLES
    }
    await bot.close()

    target = await postgres_databases.url(migrated=False)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(SETTINGS_ENV_PREFIXES)
    }
    copied = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "migrate-data", "--from", f"sqlite:///{old.resolve()}",
         "--to", target, "--quiet"],
        cwd=tmp_path, env={**environment, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert "Copied" in copied.stdout and "Point DATABASE_URL" in copied.stdout

    # A second copy into the same database is refused: it is not empty any more.
    again = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "migrate-data", "--from", f"sqlite:///{old.resolve()}",
         "--to", target, "--quiet"],
        cwd=tmp_path, env={**environment, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 1 and "not empty" in again.stderr

    moved = await start(start_bot, make_settings(emulator, target, **options))
    assert moved.db.engine == "postgresql"
    rows_after = {
        table: await moved.db.fetchval(f"SELECT count(*) FROM {table}") for table, _ in TABLES
    }
    assert rows_after == rows_before
    after = await everything_shown(emulator, summary_id)
    for shown_before, shown_after in zip(before, after, strict=True):
        assert shown_after == shown_before, shown_before[0]
    # And it goes on from there: a new summary gets the next id, votes still count.
    newer = await write(emulator, mod, "1706.03762", tldr="Attention is all you need.")
    assert summary_id_of(newer) > summary_id
    await moved.close()  # before its database is dropped
