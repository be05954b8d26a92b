"""The pruning of interaction states and old submission counts (cogs/interactions.py): a
state goes a day after it expired (a late click may still hand a member's text back), a
publication once no window counts it; on both engines."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from bot.bot import ShortScienceBot
from bot.config import Settings
from bot.storage import Database
from bot.storage.interactions import InteractionStateRepository
from cogs.interactions import KEEP_EXPIRED_SECONDS, InteractionsCog
from tests.databases import DatabaseFactory

NOW = 1_700_000_000.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def test_pruning_keeps_what_a_late_click_still_needs(db: Database) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, submissions_per_window=2, submission_window_seconds=600
    )
    bot = SimpleNamespace(settings=settings, db=db, background_tasks=False)
    cog = InteractionsCog(cast(ShortScienceBot, bot))
    cog.clock = lambda: NOW
    states = InteractionStateRepository(db)
    old = await states.create(
        "draft",
        owner_id=1,
        guild_id=1,
        payload={},
        now=NOW - KEEP_EXPIRED_SECONDS - 120,
        lifetime=60,
    )
    late = await states.create(
        "draft", owner_id=1, guild_id=1, payload={}, now=NOW - 3600, lifetime=60
    )
    live = await states.create("results", owner_id=1, guild_id=1, payload={}, now=NOW, lifetime=600)
    cog.clock = lambda: NOW - 700
    await cog.limiter.acquire(7)  # out of the window by NOW
    cog.clock = lambda: NOW - 10
    await cog.limiter.acquire(8)
    cog.clock = lambda: NOW
    assert await cog.prune() == (1, 1)
    assert await states.get(old.id) is None
    assert await states.get(late.id) is not None and await states.get(live.id) is not None
    assert await db.fetchval("SELECT count(*) FROM submission_events") == 1
