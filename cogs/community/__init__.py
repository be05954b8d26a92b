"""Community summaries, votes and reading sessions (the `cogs.community` extension)."""

from __future__ import annotations

from bot.bot import ShortScienceBot
from cogs.community.reading import ReadingCog
from cogs.community.summaries import CommunityCog


async def setup(bot: ShortScienceBot) -> None:
    community = CommunityCog(bot)
    await bot.add_cog(community)
    # One arXiv client, resolver and title finder for both: one cache, one request spacing.
    await bot.add_cog(ReadingCog(bot, community.resolver, community.service.titles))
