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


# Sections of /help, in order; a command goes where its full name, else its first word, says.
READ = "Find and read"
WRITE = "Write, vote and export"
READING = "Reading groups"
FEEDS = "Feeds and announcements (Manage Server)"
MORE = "More"
SECTION_ORDER = (READ, WRITE, READING, FEEDS, MORE)
SECTION_OF = {
    "search": READ,
    "paper": READ,
    "similar": READ,
    "summary view": READ,
    "latest": READ,
    "top": READ,
    "random": READ,
    "summarize": WRITE,
    "summary": WRITE,
    "mysummaries": WRITE,
    "leaderboard": WRITE,
    "export": WRITE,
    "reading": READING,
    "feed": FEEDS,
    "announce": FEEDS,
}


def section_of(command: app_commands.Command) -> str:
    name = command.qualified_name
    return SECTION_OF.get(name) or SECTION_OF.get(name.split(" ", 1)[0], MORE)


def help_embed(bot: ShortScienceBot, guild: discord.abc.Snowflake | None) -> discord.Embed:
    embed = discord.Embed(title="ShortScience bot", description=INTRO, colour=0x2B6CB0)
    commands_here = bot.tree.get_commands(guild=guild) or bot.tree.get_commands()
    lines: dict[str, list[str]] = {section: [] for section in SECTION_ORDER}
    for command in sorted(walk_commands(commands_here), key=lambda c: c.qualified_name):
        lines[section_of(command)].append(f"`/{command.qualified_name}` — {command.description}")
    if any(isinstance(item, app_commands.ContextMenu) for item in commands_here):
        lines[WRITE].append("Right-click a message → Apps → **Summarize this paper**")
    for section in SECTION_ORDER:
        # A field value holds 1024 characters: a long section continues in another field.
        chunk: list[str] = []
        for line in lines[section]:
            if chunk and sum(len(x) + 1 for x in chunk) + len(line) > 1024:
                embed.add_field(name=section, value="\n".join(chunk), inline=False)
                chunk = []
            chunk.append(line)
        if chunk:
            embed.add_field(name=section, value="\n".join(chunk), inline=False)
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
