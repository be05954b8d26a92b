"""The background loop that fills papers in from arXiv and Crossref (no commands).

See `bot.enrichment.service` for what a pass does. The loop starts with the bot (its first
pass at once), runs passes back to back while a backlog remains, then sleeps
ENRICHMENT_INTERVAL_SECONDS; it logs any failure with its traceback and carries on.
"""

from __future__ import annotations

import logging

from discord.ext import commands, tasks

from bot.bot import ShortScienceBot
from bot.community.arxiv import ArxivClient
from bot.enrichment.crossref import CrossrefClient
from bot.enrichment.service import PaperEnricher

log = logging.getLogger(__name__)

COG_NAME = "Enrichment"


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
        self.enrich.change_interval(seconds=settings.enrichment_interval_seconds)

    async def cog_load(self) -> None:
        if self.bot.background_tasks:
            self.enrich.start()

    async def cog_unload(self) -> None:
        self.enrich.cancel()

    @tasks.loop(seconds=60)
    async def enrich(self) -> None:
        try:
            # A backlog (a big import) is worked through pass after pass, without the pause.
            while (await self.enricher.run_once()).more_due:
                pass
        except Exception:  # one bad pass must not stop the loop
            log.exception("Filling in papers failed; trying again in the next pass")


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(EnrichmentCog(bot))
