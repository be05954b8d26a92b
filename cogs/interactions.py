"""Upkeep of what buttons and forms keep in the database (no commands).

Interaction states (`bot.storage.interactions`: drafts, result lists, offered feeds) are
kept a day after they expire, so that a late click can still hand a member's text back,
then pruned; the submission rate limit's record (`bot.storage.submissions`) forgets what no
window counts any more. One supervised `BackgroundLoop` (shown by `/status`) does both, as
a `SharedJob`: one process of those sharing the database prunes each hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from discord.ext import commands

from bot.background import BackgroundLoop
from bot.bot import ShortScienceBot
from bot.community.ratelimit import SubmissionLimiter
from bot.jobs import SharedJob
from bot.storage.interactions import InteractionStateRepository

log = logging.getLogger(__name__)

COG_NAME: Final = "Interactions"
PRUNING_LOOP: Final = "interaction state pruning"
PRUNE_SECONDS: Final = 3600.0
# How long a state is kept after it expired.
KEEP_EXPIRED_SECONDS: Final = 24 * 3600.0


class InteractionsCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        self.states = InteractionStateRepository(bot.db)
        self.clock: Callable[[], float] = time.time
        self.limiter = SubmissionLimiter(
            bot.db,
            bot.settings.submissions_per_window,
            bot.settings.submission_window_seconds,
            clock=lambda: self.clock(),
        )
        self.loop: BackgroundLoop | None = None

    async def cog_load(self) -> None:
        if self.bot.background_tasks:
            job = SharedJob(
                self.bot.db,
                PRUNING_LOOP,
                self.prune,
                owner=self.bot.lease_owner,
                every=PRUNE_SECONDS,
                lease_seconds=self.bot.settings.lease_seconds,
            )
            self.loop = self.bot.loops.start(
                BackgroundLoop(
                    PRUNING_LOOP,
                    job.run_once,
                    interval=job.tick_seconds,
                    description="forgets expired drafts, lists and old submission counts",
                )
            )

    async def cog_unload(self) -> None:
        if self.loop is not None:
            await self.bot.loops.stop(self.loop)
            self.loop = None

    async def prune(self) -> tuple[int, int]:
        """Forget states expired over a day ago and submissions out of the window. Returns
        how many of each went."""
        states = await self.states.prune(expired_before=self.clock() - KEEP_EXPIRED_SECONDS)
        submissions = await self.limiter.prune()
        if states or submissions:
            log.info(
                "Pruned %d expired interaction states and %d old submissions", states, submissions
            )
        return states, submissions


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(InteractionsCog(bot))
