"""The background loop that fills papers in from arXiv and Crossref (no commands).

See `bot.enrichment.service` for what a pass does. The loop (a supervised `BackgroundLoop`,
shown by `/status`) starts with the bot (its first pass at once), runs passes back to back
while a backlog remains, then sleeps ENRICHMENT_INTERVAL_SECONDS; a failure is logged with
its traceback and the loop carries on after a backoff.
"""

from __future__ import annotations

from discord.ext import commands

from bot.background import BackgroundLoop
from bot.bot import ShortScienceBot
from bot.community.arxiv import ArxivClient
from bot.enrichment.crossref import CrossrefClient
from bot.enrichment.service import PaperEnricher
from bot.jobs import SharedJob

COG_NAME = "Enrichment"
ENRICHMENT_LOOP = "paper enrichment"


class EnrichmentCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        settings = bot.settings
        arxiv = ArxivClient(
            bot.http_session,
            api_url=settings.arxiv_api_url,
            min_interval=settings.arxiv_min_interval,
        )
        crossref = (
            CrossrefClient(
                bot.http_session,
                api_url=settings.crossref_api_url,
                mailto=settings.crossref_mailto,
            )
            if settings.crossref_api_url
            else None
        )
        self.enricher = PaperEnricher(bot.db, arxiv=arxiv, crossref=crossref)
        self.loop: BackgroundLoop | None = None

    async def cog_load(self) -> None:
        if self.bot.background_tasks:
            # One process of those sharing the database works the backlog at a time (arXiv
            # and Crossref want one polite client, not one per process).
            job = SharedJob(
                self.bot.db,
                ENRICHMENT_LOOP,
                self.enrich,
                owner=self.bot.lease_owner,
                every=self.bot.settings.enrichment_interval_seconds,
                lease_seconds=self.bot.settings.lease_seconds,
            )
            self.loop = self.bot.loops.start(
                BackgroundLoop(
                    ENRICHMENT_LOOP,
                    job.run_once,
                    interval=job.tick_seconds,
                    description="fills papers in from arXiv and Crossref",
                )
            )

    async def cog_unload(self) -> None:
        if self.loop is not None:
            await self.bot.loops.stop(self.loop)
            self.loop = None

    async def enrich(self) -> None:
        # A backlog (a big import) is worked through pass after pass, without the pause.
        while (await self.enricher.run_once()).more_due:
            pass


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(EnrichmentCog(bot))
