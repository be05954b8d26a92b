"""The Bot class: resources passed in from `main()`, cogs loaded in `setup_hook`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.background import BackgroundLoops
from bot.community.buttons import SummaryButtonHandler
from bot.config import Settings
from bot.errors import report_interaction_error
from bot.feeds.workers import FeedWorkers
from bot.jobs import free_leases_of_dead_local_processes
from bot.search import SearchService
from bot.storage import Database
from bot.storage.leases import new_owner_id
from bot.typeset import Typesetter

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "cogs.meta",
    "cogs.feeds",
    "cogs.community",
    "cogs.search",
    "cogs.seed",
    "cogs.enrichment",
)


class ShortScienceTree(app_commands.CommandTree["ShortScienceBot"]):
    """The command tree, with the one central app-command error handler."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_interaction_error(interaction, error)


def bot_intents() -> discord.Intents:
    """Only what slash commands and announcements need: no privileged intents."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class ShortScienceBot(commands.Bot):
    """The bot. Its database, HTTP session and feed workers are created by the caller and
    passed in."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        search: SearchService,
        http_session: aiohttp.ClientSession,
        feed_workers: FeedWorkers,
        extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
        background_tasks: bool = True,
        sync_on_start: bool = True,
        typesetter: Typesetter | None = None,
        lease_owner: str | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            help_command=None,
            tree_cls=ShortScienceTree,
            # User text is echoed back in many places: nothing the bot sends pings anyone
            # unless a message opts in explicitly (a subscription's own role, for instance).
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=settings.guild_ready_timeout,
            chunk_guilds_at_startup=False,
            max_messages=None,
        )
        self.settings = settings
        self.db = db
        # This process's id in the leases it takes on shared work (feeds, the outbox,
        # scheduled jobs; `bot.storage.leases`): unique among the processes sharing the
        # database. A process registry may give its own id instead.
        self.lease_owner = lease_owner or new_owner_id()
        self.search = search
        self.http_session = http_session
        # Worker processes that parse feeds (started on first use: one-shot commands that
        # never parse start none).
        self.feed_workers = feed_workers
        self.initial_extensions = extensions
        # Background loops (feed polling, reminders) stay off for one-shot CLI commands.
        self.background_tasks = background_tasks
        # Every background loop the cogs run, supervised and listed by /status.
        self.loops = BackgroundLoops()
        self.loops.track(search.indexer)
        self.sync_on_start = sync_on_start
        # Display math as images (None: equations in Unicode only).
        self.typesetter = typesetter
        self.warm_up: asyncio.Task[None] | None = None
        # Who handles clicks on the buttons under community summaries (`bot.community.
        # buttons`): the community cog registers itself while loaded.
        self.summary_buttons: SummaryButtonHandler | None = None

    async def setup_hook(self) -> None:
        if self.typesetter is not None and self.background_tasks:
            # The first summary with equations should not wait for the workers to start.
            self.warm_up = asyncio.create_task(self.typesetter.warm_up(), name="math-warm-up")
        applied = await self.db.migrate()
        if applied:
            log.info("Database migrated to version %d", applied[-1])
        if self.background_tasks:
            # A predecessor killed on this host: its work is taken over at once.
            await free_leases_of_dead_local_processes(self.db)
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        if self.sync_on_start and self.settings.dev_guild_id is not None:
            await self.sync_commands(self.settings.dev_guild_id)

    async def sync_commands(self, guild_id: int | None) -> list[app_commands.AppCommand]:
        """Sync to one guild (copying the global commands there) or, with None, globally."""
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("Synced %d global commands", len(synced))
            return synced
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("Synced %d commands to guild %d", len(synced), guild_id)
        return synced

    async def close(self) -> None:
        if self.warm_up is not None and not self.warm_up.done():
            self.warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.warm_up
        await super().close()

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("Ready as %s (%d) in %d guilds", self.user, self.user.id, len(self.guilds))
