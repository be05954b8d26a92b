"""Finding and reading summaries; see `cogs.search.cog`."""

from __future__ import annotations

from bot.bot import ShortScienceBot
from cogs.search.cog import SearchCog


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(SearchCog(bot))
