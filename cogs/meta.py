"""`/help`: what the bot does and its commands, in one embed."""

from __future__ import annotations

from collections.abc import Iterator

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import ShortScienceBot

INTRO = (
    "I bring [ShortScience.org](https://www.shortscience.org) to your reading group: "
    "search and read paper summaries (math made readable), announce new ones from feeds, "
    "and collect your group's own summaries and votes."
)


def walk_commands(
    items: list[app_commands.Command | app_commands.Group | app_commands.ContextMenu],
) -> Iterator[app_commands.Command]:
    for item in items:
        if isinstance(item, app_commands.Group):
            yield from walk_commands(list(item.commands))
        elif isinstance(item, app_commands.Command):
            yield item


def help_embed(bot: ShortScienceBot, guild: discord.abc.Snowflake | None) -> discord.Embed:
    embed = discord.Embed(title="ShortScience bot", description=INTRO, colour=0x2B6CB0)
    lines = []
    for command in sorted(
        walk_commands(bot.tree.get_commands(guild=guild) or bot.tree.get_commands()),
        key=lambda c: c.qualified_name,
    ):
        lines.append(f"`/{command.qualified_name}` — {command.description}")
    body = "\n".join(lines) or "No commands are loaded."
    # Field values hold 1024 characters; spread the list over as many fields as it needs.
    chunk: list[str] = []
    size = 0
    for line in body.splitlines():
        if size + len(line) + 1 > 1024 and chunk:
            embed.add_field(
                name="Commands" if not embed.fields else "\u200b",
                value="\n".join(chunk),
                inline=False,
            )
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        embed.add_field(
            name="Commands" if not embed.fields else "\u200b", value="\n".join(chunk), inline=False
        )
    embed.set_footer(text="Paper ids: arXiv ids or URLs, DOIs, ShortScience links or bibtex keys.")
    return embed


class Meta(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What this bot does and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=help_embed(self.bot, interaction.guild), ephemeral=True
        )


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(Meta(bot))
