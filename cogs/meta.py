"""`/help`: what the bot does and its commands, in one embed; `/status`: the bot's live
processes and their shards, this process's background loops, and the announcement outbox
(Manage Server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.background import LoopStatus
from bot.bot import ShortScienceBot
from bot.community.ratelimit import describe_wait
from bot.errors import UserFacingError
from bot.rendering import escape_markdown, shorten
from bot.storage.outbox import OutboxBacklog, OutboxRepository
from bot.storage.processes import LiveProcess, ShardState

SHOWN_ERROR_CHARS = 200

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
RUNNING = "Running the bot (Manage Server)"
MORE = "More"
SECTION_ORDER = (READ, WRITE, READING, FEEDS, RUNNING, MORE)
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
    "status": RUNNING,
}


# One example per command that takes options, as a member would type it (a command without
# options is its own example). A test runs each one through the synced command tree.
EXAMPLES = {
    "search": '/search query:"batch normalization" year:2015',
    "paper": "/paper id:1502.03167",
    "similar": "/similar paper:1502.03167",
    "summary view": "/summary view id:12 math:text",
    "latest": "/latest count:5",
    "top": "/top period:week",
    "summarize": "/summarize paper:1706.03762",
    "summary edit": "/summary edit id:12",
    "summary delete": "/summary delete id:12",
    "summary restore": "/summary restore id:12",
    "leaderboard": "/leaderboard period:all",
    "export": "/export format:json",
    "reading start": "/reading start paper:1706.03762 due:1w role:@reading-group",
    "feed add": "/feed add url:https://www.shortscience.org/rss.xml channel:#papers",
    "feed remove": "/feed remove feed:3",
    "feed pause": "/feed pause feed:3",
    "feed resume": "/feed resume feed:3",
    "feed test": "/feed test feed:3",
    "announce channel": "/announce channel channel:#papers",
}


def command_line(command: app_commands.Command) -> str:
    """A command's line in /help: its name, what it does, and an example when it takes
    options."""
    line = f"`/{command.qualified_name}` — {command.description}"
    example = EXAMPLES.get(command.qualified_name)
    return f"{line} · e.g. `{example}`" if example else line


def section_of(command: app_commands.Command) -> str:
    name = command.qualified_name
    return SECTION_OF.get(name) or SECTION_OF.get(name.split(" ", 1)[0], MORE)


def help_embed(bot: ShortScienceBot, guild: discord.abc.Snowflake | None) -> discord.Embed:
    embed = discord.Embed(title="ShortScience bot", description=INTRO, colour=0x2B6CB0)
    commands_here = bot.tree.get_commands(guild=guild) or bot.tree.get_commands()
    lines: dict[str, list[str]] = {section: [] for section in SECTION_ORDER}
    for command in sorted(walk_commands(commands_here), key=lambda c: c.qualified_name):
        lines[section_of(command)].append(command_line(command))
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


def _when(timestamp: float | None) -> str:
    return "never" if timestamp is None else f"<t:{int(timestamp)}:R>"


def _every(seconds: float) -> str:
    return "continuously" if seconds <= 0 else f"every {describe_wait(seconds)}"


def loop_field(status: LoopStatus) -> tuple[str, str]:
    """One loop of `/status`: (field name, field value)."""
    if not status.running:
        icon = "⏹️"
    elif status.failing:
        icon = "⚠️"
    elif status.last_run_at is None:
        icon = "⏳"
    else:
        icon = "✅"
    lines = [
        f"*{status.description}*" if status.description else "",
        f"{_every(status.interval)} · last run {_when(status.last_run_at)} · "
        f"last success {_when(status.last_success_at)}",
    ]
    if status.last_error is not None:
        error = escape_markdown(shorten(status.last_error, SHOWN_ERROR_CHARS))
        lines.append(f"last error {_when(status.last_error_at)}: {error}")
    if status.failing:
        lines.append(
            f"failing: {status.failures_in_a_row} run{'s' if status.failures_in_a_row != 1 else ''}"
            f" in a row · next try {_when(status.next_run_at)}"
        )
    elif not status.running:
        lines.append("stopped")
    return f"{icon} {status.name}", "\n".join(line for line in lines if line)


def backlog_line(label: str, backlog: OutboxBacklog, now: float) -> str:
    if backlog.pending == 0:
        return f"{label}: nothing waiting"
    age = backlog.oldest_age(now)
    assert age is not None and backlog.oldest_created_at is not None
    return (
        f"{label}: **{backlog.pending}** waiting · the oldest for {describe_wait(age)} "
        f"(queued <t:{int(backlog.oldest_created_at)}:f>)"
    )


# At most this many fields list processes (an embed holds 25 fields and 6000 characters).
MAX_PROCESS_FIELDS = 3


def _shard_text(shard: ShardState) -> str:
    if not shard.connected:
        return f"shard {shard.shard_id}: ⚠️ not connected"
    if shard.latency is None:
        return f"shard {shard.shard_id}: connected"
    return f"shard {shard.shard_id}: connected, {shard.latency * 1000:.0f} ms"


def process_lines(process: LiveProcess, *, this_process: bool, now: float) -> str:
    """One live process of `/status`: who it is, its shards, its heartbeat."""
    identity = process.identity
    shards = ", ".join(str(shard_id) for shard_id in process.shard_ids) or "none yet"
    count = f" of {process.shard_count}" if process.shard_count is not None else ""
    marker = " (answered this)" if this_process else ""
    head = (
        f"**`{identity.process_id}`**{marker} · {escape_markdown(identity.host)} pid "
        f"{identity.pid} · v{escape_markdown(identity.version)} · shards {shards}{count}"
    )
    beat = (
        f"heartbeat {describe_wait(process.heartbeat_age(now))} ago · "
        f"started <t:{int(identity.started_at)}:R>"
    )
    lines = [head, beat]
    if process.shards:
        lines.append(" · ".join(_shard_text(shard) for shard in process.shards))
    return "\n".join(lines)


def shard_coverage_warning(processes: list[LiveProcess]) -> str | None:
    """What is wrong with the live processes' shards: counts that disagree, or shards no
    live process runs (their servers' commands go unanswered)."""
    counts = {p.shard_count for p in processes if p.shard_count is not None}
    if len(counts) > 1:
        listed = ", ".join(str(count) for count in sorted(counts))
        return f"⚠️ The processes disagree on the shard count ({listed}): give them one SHARD_COUNT."
    if not counts:
        return None
    count = counts.pop()
    running = {shard for p in processes for shard in p.shard_ids}
    missing = [shard for shard in range(count) if shard not in running]
    if not missing:
        return None
    listed = ", ".join(str(shard) for shard in missing)
    return (
        f"⚠️ No live process runs shard(s) {listed} of {count}: the servers on them get no answers."
    )


def process_fields(
    processes: list[LiveProcess], *, this_process_id: str, now: float
) -> list[tuple[str, str]]:
    """The `/status` fields listing the live processes (several when they do not fit one)."""
    blocks = [
        process_lines(p, this_process=p.process_id == this_process_id, now=now) for p in processes
    ]
    warning = shard_coverage_warning(processes)
    if warning is not None:
        blocks.insert(0, warning)
    if not blocks:
        blocks = ["No live process is registered (it registers within seconds of starting)."]
    title = f"Bot processes ({len(processes)} live)"
    fields: list[tuple[str, str]] = []
    chunk: list[str] = []
    for index, block in enumerate(blocks):
        if chunk and sum(len(b) + 1 for b in chunk) + len(block) > 1024:
            fields.append((title, "\n".join(chunk)))
            chunk = []
            if len(fields) == MAX_PROCESS_FIELDS:
                fields[-1] = (title, f"{fields[-1][1]}\n… and {len(blocks) - index} more"[:1024])
                return fields
        chunk.append(block[:1024])
    if chunk:
        fields.append((title, "\n".join(chunk)))
    return fields


def status_embed(
    loops: list[LoopStatus],
    *,
    here: OutboxBacklog,
    everywhere: OutboxBacklog,
    now: float,
    processes: list[LiveProcess] | None = None,
    this_process_id: str = "",
) -> discord.Embed:
    """What `/status` shows: the live processes and their shards, every background loop of
    this process, then the announcement backlog."""
    failing = [loop for loop in loops if loop.failing or not loop.running]
    unhealthy_shards = any(
        not shard.connected for process in processes or [] for shard in process.shards
    )
    embed = discord.Embed(
        title="Bot status",
        description=(
            "The bot's live processes and their shards, the background loops of the process "
            "that answered, and announcements waiting to be posted."
            if loops
            else "No background loops run in this process (a one-shot command)."
        ),
        colour=0xC05621 if failing or unhealthy_shards else 0x2F855A,
    )
    if processes is not None:
        for name, value in process_fields(processes, this_process_id=this_process_id, now=now):
            embed.add_field(name=name, value=value, inline=False)
    for status in loops:
        name, value = loop_field(status)
        embed.add_field(name=name, value=value[:1024], inline=False)
    embed.add_field(
        name="Announcement outbox",
        value="\n".join(
            [backlog_line("This server", here, now), backlog_line("All servers", everywhere, now)]
        ),
        inline=False,
    )
    return embed


class Meta(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        self.outbox = OutboxRepository(bot.db)

    @app_commands.command(name="help", description="What this bot does and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=help_embed(self.bot, interaction.guild), ephemeral=True
        )

    @app_commands.command(
        name="status", description="How the bot's background work and announcements are doing"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        # Default permissions hide it; a server may override them, so check again.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise UserFacingError("You need the Manage Server permission to see the bot's status.")
        now = time.time()
        here = await self.outbox.backlog(guild_id=interaction.guild_id)
        everywhere = await self.outbox.backlog()
        processes = await self.bot.registry.live_processes(now)
        # This process's own shards as they are now, not as of its last heartbeat.
        mine = self.bot.process_id
        processes = [
            replace(p, shards=tuple(self.bot.shard_states())) if p.process_id == mine else p
            for p in processes
        ]
        embed = status_embed(
            self.bot.loops.statuses(),
            here=here,
            everywhere=everywhere,
            now=now,
            processes=processes,
            this_process_id=mine,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(Meta(bot))
