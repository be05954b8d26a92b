"""A first start that is not empty: the bot seeds an empty database from SEED_FEEDS.

Feeds come from the local feed server (tests/feedserver/); the harness sets SEED_FEEDS empty
for every other test. What the user sees is checked through the emulator: /latest lists the
seeded summaries, and an empty library says how it gets filled.
"""

# Waits take `timeout=` on purpose, as in the emulator's own helpers.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import cast

import pytest

from bot.bot import ShortScienceBot
from bot.ingest import import_source
from bot.storage import Database
from bot.storage.state import BotStateRepository, SeedStatus
from cogs.seed import SeedCog
from tests.e2e.conftest import SpawnBot, StartBot
from tests.emulator import DiscordEmulator, Message
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture, used by name

SEED_PATH = "/fixtures/shortscience.xml"
SEEDED_TITLES = {
    "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    "Attention Is All You Need",
    "Deep Residual Learning for Image Recognition",
}


def seed_cog(bot: ShortScienceBot) -> SeedCog:
    cog = bot.get_cog("Seed")
    # load_extension imports its own copy of the module, so isinstance cannot be used.
    assert cog is not None and type(cog).__name__ == "SeedCog"
    return cast(SeedCog, cog)


async def seed_status(database_path: Path) -> SeedStatus | None:
    """Read the seed's state from the database file, as another process would."""
    db = await Database.open(database_path)
    try:
        await db.migrate()
        return await BotStateRepository(db).seed_status()
    finally:
        await db.close()


async def wait_for_status(database_path: Path, wanted: SeedStatus, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := await seed_status(database_path)) != wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the seed is {status!r}, not {wanted!r}, after {timeout} s")
        await asyncio.sleep(0.05)


async def seed_decision(emulator: DiscordEmulator, bot: ShortScienceBot) -> SeedStatus | None:
    """Wait for the running bot's seed job to finish (or decide there is nothing to do)."""
    task = seed_cog(bot).task
    assert task is not None
    await emulator.wait_for(task.done, timeout=5, description="the seed job to decide")
    return cast("SeedStatus | None", task.result())


async def latest(emulator: DiscordEmulator) -> Message:
    return await (await emulator.slash("/latest count:25")).wait_reply(timeout=5.0)


def listed_titles(message: Message) -> set[str]:
    return {title for title in SEEDED_TITLES if title in message.text}


async def test_the_first_start_imports_the_seed_feeds_once(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = tmp_path / "seeded.sqlite3"
    settings = make_settings(emulator, database, seed_feeds=feed_server.url(SEED_PATH))
    with caplog.at_level(logging.INFO, logger="bot.seed"):
        bot = await start_bot(settings)
        await wait_for_status(database, "done")
    messages = [record.getMessage() for record in caplog.records if record.name == "bot.seed"]
    assert any("importing " + feed_server.url(SEED_PATH) in m for m in messages), messages
    assert any(m.startswith("Seeded from ") and "5 summaries (5 new)" in m for m in messages)

    # Readers find the summaries at once: no /feed add, no `import` needed.
    listing = await latest(emulator)
    assert listing.embed is not None and listed_titles(listing) == SEEDED_TITLES
    assert feed_server.requests[SEED_PATH] == 1

    # A restart does not seed again: the database was seeded once.
    await bot.close()
    assert await seed_decision(emulator, await start_bot(settings)) == "done"
    assert feed_server.requests[SEED_PATH] == 1


async def test_a_failing_seed_is_logged_and_retried_until_it_works(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = tmp_path / "retried.sqlite3"
    url = feed_server.url("/dynamic/seed")  # 404 until the test serves a feed there
    settings = make_settings(emulator, database, seed_feeds=url, seed_retry_seconds=0.2)
    with caplog.at_level(logging.INFO, logger="bot.seed"):
        await start_bot(settings)
        await emulator.wait_for(
            lambda: feed_server.requests["/dynamic/seed"] >= 2,
            timeout=10,
            description="two attempts at the seed feed",
        )
        # Meanwhile the library says what is happening, and the bot answers as usual.
        waiting = await latest(emulator)
        assert waiting.ephemeral
        assert waiting.content.startswith("The library is being filled for the first time")
        help_reply = await (await emulator.slash("/help")).wait_reply(timeout=3.0)
        assert help_reply.embed is not None

        feed_server.set_feed("seed", feed_server.fixture_bytes("shortscience.xml"))
        await wait_for_status(database, "done")
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name == "bot.seed" and record.levelno == logging.WARNING
    ]
    assert any(m.startswith(f"Seed import failed: {url}: ") and "404" in m for m in warnings)
    assert "1 seed feed not imported yet; trying again in 0.2 s" in warnings
    assert "1 seed feed not imported yet; trying again in 0.4 s" in warnings  # backoff
    listing = await latest(emulator)
    assert listed_titles(listing) == SEEDED_TITLES


async def test_a_hanging_seed_never_delays_start_up_and_a_restart_resumes_it(
    emulator: DiscordEmulator, spawn_bot: SpawnBot, feed_server: FeedServer, tmp_path: Path
) -> None:
    database = tmp_path / "resumed.sqlite3"
    feed_server.hang_seconds = 60
    started = time.monotonic()
    first = await spawn_bot(database, seed_feeds=feed_server.url("/hang"))
    # Ready and answering while the seed's request hangs.
    assert time.monotonic() - started < 30
    await emulator.wait_for(
        lambda: feed_server.requests["/hang"] >= 1, timeout=10, description="the seed request"
    )
    reply = await latest(emulator)
    assert reply.content.startswith("The library is being filled for the first time")
    await first.kill()  # a crash in the middle of seeding
    assert await seed_status(database) == "pending"

    await spawn_bot(database, seed_feeds=feed_server.url(SEED_PATH))
    await wait_for_status(database, "done")
    assert listed_titles(await latest(emulator)) == SEEDED_TITLES


async def test_a_database_that_already_has_summaries_is_never_seeded(
    emulator: DiscordEmulator, start_bot: StartBot, feed_server: FeedServer, tmp_path: Path
) -> None:
    database = tmp_path / "filled.sqlite3"
    db = await Database.open(database)
    try:
        await db.migrate()
        await import_source(db, None, str(Path(__file__).parents[1] / "fixtures/feeds/rss20.xml"))
    finally:
        await db.close()
    settings = make_settings(emulator, database, seed_feeds=feed_server.url(SEED_PATH))
    assert await seed_decision(emulator, await start_bot(settings)) == "skipped"
    assert feed_server.requests[SEED_PATH] == 0
    assert await seed_status(database) == "skipped"


async def test_an_empty_seed_setting_leaves_the_library_empty(
    emulator: DiscordEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    database = tmp_path / "unseeded.sqlite3"
    bot = await start_bot(make_settings(emulator, database, seed_feeds=""))
    assert seed_cog(bot).task is None
    reply = await latest(emulator)
    assert reply.content.startswith("The library is empty")
    assert await seed_status(database) is None
