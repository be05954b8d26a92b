"""The Bot class: resources passed in from `main()`, cogs loaded in `setup_hook`.

The bot is sharded (discord.py's `AutoShardedBot`): it runs the shards SHARD_COUNT and
SHARD_IDS name, or, without them, every shard Discord recommends. Several processes of the
bot, each with its own shards, share one database; each registers itself in the process
registry (`bot.processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot import __version__
from bot.background import BackgroundLoops
from bot.community.buttons import SummaryButtonHandler
from bot.config import Settings
from bot.errors import report_interaction_error
from bot.feeds.workers import FeedWorkers
from bot.jobs import free_leases_of_dead_local_processes
from bot.metrics import BotMetrics
from bot.processes import ProcessPresence, new_process_identity
from bot.rest_budget import GlobalRequestBudget
from bot.search import SearchService
from bot.sharding import (
    GatewayUnreachableError,
    IdentifyPacer,
    SessionStartLimit,
    shard_of,
)
from bot.storage import Database
from bot.storage.leases import owner_id
from bot.storage.processes import IdentifySlots, ProcessRegistry, ShardState
from bot.typeset import Typesetter

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "cogs.meta",
    "cogs.feeds",
    "cogs.community",
    "cogs.search",
    "cogs.seed",
    "cogs.enrichment",
    "cogs.interactions",
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


# What a gateway that cannot be reached raises when connecting (a refused or timed-out
# connection, no route, a name that does not resolve, an error page instead of a websocket).
GATEWAY_CONNECTION_ERRORS = (
    OSError,
    aiohttp.ClientConnectionError,
    aiohttp.WSServerHandshakeError,
    TimeoutError,
)


class ShortScienceBot(commands.AutoShardedBot):
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
        metrics: BotMetrics | None = None,
        lease_owner: str | None = None,
    ) -> None:
        # What operators scrape (served by bot.monitoring when METRICS_PORT is set).
        self.metrics = metrics or BotMetrics()
        # This process's share of the bot's global REST budget, in front of discord.py's
        # HTTP client (an aiohttp trace); the heartbeat sets the share.
        self.rest_budget = GlobalRequestBudget(settings.discord_global_rate_limit)
        http_trace = self.metrics.http_trace()
        self.rest_budget.install(http_trace)
        shard_ids = settings.shard_id_list
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
            # None: every shard Discord recommends (GET /gateway/bot), all in this process.
            shard_count=settings.shard_count,
            http_trace=http_trace,
        )
        # None: every shard of the count (this attribute is what launch_shards reads).
        self.shard_ids = list(shard_ids) if shard_ids is not None else None
        self.settings = settings
        self.db = db
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
        # This process in the process registry (the heartbeat loop runs with the background
        # tasks; one-shot CLI commands do not register).
        self.registry = ProcessRegistry(db, expiry=settings.process_expiry_seconds)
        self.presence = ProcessPresence(
            self.registry,
            new_process_identity(__version__),
            self.shard_report,
            interval=settings.process_heartbeat_seconds,
            budget=self.rest_budget,
        )
        # This process's id in the leases it takes on shared work (feeds, the outbox,
        # scheduled jobs; `bot.storage.leases`): hostname-pid-<its registry id>, so a lease
        # names its registry row, and a restart on this host knows a dead owner by its pid.
        identity = self.presence.identity
        self.lease_owner = lease_owner or owner_id(identity.host, identity.pid, identity.process_id)
        # Known once GET /gateway/bot was asked, when the shards are launched.
        self.session_start_limit: SessionStartLimit | None = None
        self.identify_pacer: IdentifyPacer | None = None
        self.gateway_reached = False

    # --- shards -----------------------------------------------------------------------

    @property
    def process_id(self) -> str:
        """This process's id in the process registry."""
        return self.presence.identity.process_id

    @property
    def planned_shard_ids(self) -> list[int] | None:
        """The shards this process runs (None while the count is not known yet)."""
        if self.shard_ids is not None:
            return list(self.shard_ids)
        if self.shard_count is not None:
            return list(range(self.shard_count))
        return None

    def runs_guild(self, guild_id: int) -> bool:
        """Whether Discord sends `guild_id`'s events to one of this process's shards (before
        the shard count is known, only a process told no shards runs them all)."""
        planned = self.planned_shard_ids
        if planned is None or self.shard_count is None:
            return True
        return shard_of(guild_id, self.shard_count) in planned

    def shard_states(self) -> list[ShardState]:
        """This process's shards: whether each one's gateway connection is open, and its
        heartbeat latency once measured."""
        shards = self.shards
        states = []
        for shard_id in self.planned_shard_ids or []:
            info = shards.get(shard_id)
            connected = info is not None and not info.is_closed()
            latency = info.latency if info is not None else math.nan
            states.append(
                ShardState(
                    shard_id=shard_id,
                    connected=connected,
                    latency=latency if connected and math.isfinite(latency) else None,
                )
            )
        return states

    def shard_report(self) -> tuple[int | None, list[ShardState]]:
        return self.shard_count, self.shard_states()

    async def launch_shards(self) -> None:
        """Ask Discord how to start (GET /gateway/bot: the recommended shard count, the
        gateway URL and the session start limit), then start this process's shards, each
        IDENTIFY when its bucket allows (`before_identify_hook`).

        Replaces discord.py's own, which neither honours `max_concurrency` nor the session
        start limit, and uses /gateway/bot's URL even when DISCORD_GATEWAY_URL says otherwise.
        """
        if self.is_closed():
            return
        recommended, url, limits = await self.http.get_bot_gateway()
        limit = SessionStartLimit.from_payload(dict(limits))
        self.session_start_limit = limit
        if self.shard_count is None:
            self.shard_count = recommended
        shard_ids = self.planned_shard_ids
        assert shard_ids is not None
        self.shard_ids = shard_ids
        self._connection.shard_count = self.shard_count
        self._connection.shard_ids = shard_ids
        gateway = (
            DiscordWebSocket.DEFAULT_GATEWAY if self.settings.discord_gateway_url else yarl.URL(url)
        )
        slots = IdentifySlots(self.db)
        self.identify_pacer = IdentifyPacer(
            slots.claim,
            max_concurrency=limit.max_concurrency,
            starting=set(shard_ids),
            window=self.settings.gateway_identify_interval,
        )
        log.info(
            "Starting shard(s) %s of %d (max_concurrency %d; %d of %d session starts left)",
            ", ".join(map(str, shard_ids)),
            self.shard_count,
            limit.max_concurrency,
            limit.remaining,
            limit.total,
        )
        self.presence.beat_soon()
        if limit.remaining < len(shard_ids):
            # Going over the daily limit gets every session closed and the token reset.
            log.error(
                "Discord allows %d more session start(s) now and %d shard(s) must start: "
                "waiting %.0f s for the limit to reset",
                limit.remaining,
                len(shard_ids),
                limit.reset_after,
            )
            await asyncio.sleep(limit.reset_after)
        await self._check_gateway(gateway)
        for shard_id in shard_ids:
            await self.launch_shard(gateway, shard_id, initial=shard_id == shard_ids[0])

    async def _check_gateway(self, gateway: yarl.URL) -> None:
        """Open (and close) one websocket to the gateway before the first shard starts.

        discord.py retries a shard whose first connection fails every 5 s for ever; a bot
        that cannot reach the gateway at all when it starts is misconfigured more often
        than not, and says so (GatewayUnreachableError) instead. Later outages are retried.
        """
        if self.gateway_reached:
            return
        try:
            socket = await self.http.ws_connect(str(gateway.with_query(v=10, encoding="json")))
        except GATEWAY_CONNECTION_ERRORS as exc:
            raise GatewayUnreachableError(str(gateway), exc) from None
        await socket.close()
        self.gateway_reached = True

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait until this shard's IDENTIFY bucket is free (across every process)."""
        if self.identify_pacer is None:
            await super().before_identify_hook(shard_id, initial=initial)
            return
        await self.identify_pacer.wait_turn(shard_id or 0)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        if event_name == "interaction" and args:
            # Dispatched as the INTERACTION_CREATE is parsed, before any handler runs.
            self.metrics.interaction_received(args[0].id)
        super().dispatch(event_name, *args, **kwargs)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("Shard %d is ready", shard_id)
        self.presence.beat_soon()

    async def on_shard_disconnect(self, shard_id: int) -> None:
        log.info("Shard %d disconnected", shard_id)
        self.presence.beat_soon()

    async def on_shard_resumed(self, shard_id: int) -> None:
        log.info("Shard %d resumed", shard_id)
        self.presence.beat_soon()

    # --- start and stop ---------------------------------------------------------------

    async def setup_hook(self) -> None:
        if self.typesetter is not None and self.background_tasks:
            # The first summary with equations should not wait for the workers to start.
            self.warm_up = asyncio.create_task(self.typesetter.warm_up(), name="math-warm-up")
        applied = await self.db.migrate()
        if applied:
            log.info("Database migrated to version %d", applied[-1])
        if self.background_tasks:
            self.loops.start(self.presence.loop)
            log.info("This process takes leases on shared work as %s", self.lease_owner)
            # A predecessor killed on this host: its work is taken over at once.
            await free_leases_of_dead_local_processes(self.db)
        for extension in self.initial_extensions:
            await self.load_extension(extension)
        dev_guild_id = self.settings.dev_guild_id
        # Every process could sync; the one whose shards get the dev guild's events does.
        if self.sync_on_start and dev_guild_id is not None and self.runs_guild(dev_guild_id):
            await self.sync_commands(dev_guild_id)

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
        await self.loops.stop(self.presence.loop)
        try:
            await self.presence.leave()
        except Exception:
            # The row expires by itself; the other processes prune it.
            log.exception("Could not remove this process from the registry")
        await super().close()

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "Ready as %s (%d) in %d guilds, shard(s) %s of %s",
            self.user,
            self.user.id,
            len(self.guilds),
            ", ".join(map(str, self.planned_shard_ids or [])),
            self.shard_count,
        )
