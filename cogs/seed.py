"""The first-start seed import as a background task of the running bot (no commands).

The task starts in `cog_load` when the bot runs background tasks and is cancelled in
`cog_unload`; `bot.seed` does the work and the logging.
"""

from __future__ import annotations

import asyncio
import contextlib

from discord.ext import commands

from bot.bot import ShortScienceBot
from bot.seed import FeedSeeder

COG_NAME = "Seed"


class SeedCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.seeder = FeedSeeder(
            bot.db,
            bot.http_session,
            settings.seed_sources,
            retry_seconds=settings.seed_retry_seconds,
        )
        self.task: asyncio.Task[object] | None = None

    async def cog_load(self) -> None:
        if self.bot.background_tasks and self.seeder.sources:
            self.task = asyncio.create_task(
                self.seeder.run_shared(
                    owner=self.bot.lease_owner, lease_seconds=self.bot.settings.lease_seconds
                ),
                name="seed-feeds",
            )

    async def cog_unload(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(SeedCog(bot))
