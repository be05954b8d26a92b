"""Building and running the bot: what `shortscience-bot run` and the tests both use."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

from bot import __version__
from bot.bot import DEFAULT_EXTENSIONS, GATEWAY_CONNECTION_ERRORS, ShortScienceBot
from bot.config import Settings
from bot.feeds.workers import FeedWorkers
from bot.monitoring import MonitoringServer
from bot.net import public_only_session_options
from bot.search import SearchService
from bot.storage import Database
from bot.typeset import Typesetter

log = logging.getLogger(__name__)

USER_AGENT = f"shortscience-bot/{__version__} (+https://www.shortscience.org)"

NO_TOKEN_HELP = """\
No DISCORD_TOKEN is set, so the bot cannot log in to Discord.

To get one:
  1. Open https://discord.com/developers/applications and click "New Application".
  2. In "Bot", click "Reset Token" and copy the token. No privileged gateway intents are
     needed: leave Presence, Server Members and Message Content off.
  3. In "OAuth2" > "URL Generator", tick the scopes `bot` and `applications.commands`, and
     the bot permissions View Channels, Send Messages, Send Messages in Threads, Embed Links,
     Attach Files, Read Message History, Create Public Threads, Manage Threads and
     Pin Messages; open the generated URL to add the bot to your server.
  4. Put the token in a file named `.env` in this folder (copy `.env.example`):
         DISCORD_TOKEN=your-token-here
     or export DISCORD_TOKEN in your shell, then run `make run` again.
  5. Set DEV_GUILD_ID to your server's id to get the slash commands there at once, or run
     `shortscience-bot sync` once to publish them everywhere.
"""


class MissingTokenError(RuntimeError):
    """The bot was asked to log in without a token."""


def configure_discord_endpoints(settings: Settings) -> None:
    """Send every REST call (callbacks and webhooks included) and the gateway where asked.

    discord.py keeps both as class attributes, so this is process-wide.
    """
    discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def require_token(settings: Settings) -> str:
    if settings.discord_token is None:
        raise MissingTokenError(NO_TOKEN_HELP)
    return settings.discord_token.get_secret_value()


@asynccontextmanager
async def open_bot(
    settings: Settings,
    *,
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
    background_tasks: bool = True,
    sync_on_start: bool = True,
    lease_owner: str | None = None,
) -> AsyncIterator[ShortScienceBot]:
    """Open the database, the search index, the HTTP session, the feed workers and the
    typesetter, build the bot, and close them all on exit. `lease_owner`: this process's id
    in the leases on shared work (a process registry's id; by default hostname-pid-random)."""
    configure_discord_endpoints(settings)
    db = await Database.open(settings.database_target, **settings.database_options)
    search: SearchService | None = None
    workers = FeedWorkers(workers=settings.feed_parse_workers, timeout=settings.feed_parse_timeout)
    typesetter = make_typesetter(settings)
    try:
        # Migrated before the search index opens: it reads the change log.
        await db.migrate()
        search = SearchService(
            db,
            settings.resolved_search_index_path,
            lease_owner=lease_owner,
            lease_seconds=settings.lease_seconds,
        )
        await search.start()
        timeout = aiohttp.ClientTimeout(total=60, connect=10)
        policy = {} if settings.allow_private_urls else public_only_session_options()
        async with aiohttp.ClientSession(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, **policy
        ) as session:
            bot = ShortScienceBot(
                settings=settings,
                db=db,
                search=search,
                http_session=session,
                feed_workers=workers,
                extensions=extensions,
                background_tasks=background_tasks,
                sync_on_start=sync_on_start,
                typesetter=typesetter,
                lease_owner=lease_owner,
            )
            async with bot:
                # Metrics and /healthz belong to a serving bot, not to one-shot commands.
                monitoring = None
                if background_tasks and settings.metrics_port:
                    monitoring = MonitoringServer(
                        bot, host=settings.metrics_host, port=settings.metrics_port
                    )
                    await monitoring.start()
                try:
                    yield bot
                finally:
                    if monitoring is not None:
                        await monitoring.close()
    finally:
        await workers.close()
        if typesetter is not None:
            await typesetter.close()
        if search is not None:
            await search.close()
        await db.close()


# discord.py's shards log these (with a traceback) on every failed gateway connection:
# "Attempting a reconnect for shard ID %s in %.2fs" (a dropped shard, retried with backoff)
# and "Failed to connect for shard_id: %s. Retrying..." (a shard failing to start, retried
# after 5 s).
SHARD_RECONNECT = "Attempting a reconnect for shard ID"
SHARD_LAUNCH_RETRY = "Failed to connect for shard_id"
SHARD_LAUNCH_RETRY_SECONDS = 5.0


class GatewayUnreachableFilter(logging.Filter):
    """Turns discord.py's reconnect tracebacks, logged on every failed gateway connection of
    a shard, into one line saying which shard cannot reach the gateway, where, and why.

    discord.py keeps retrying with backoff (right for a network outage); only its log
    changes. Other reconnect causes (Discord closing the socket) keep their traceback. Before
    the first connection (`connected()` false) the record is dropped: the bot reports that
    failure itself, as `GatewayUnreachableError`.
    """

    def __init__(self, gateway_url: str, connected: Callable[[], bool]) -> None:
        super().__init__()
        self.gateway_url = gateway_url
        self.connected = connected

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.msg if isinstance(record.msg, str) else ""
        args = record.args if isinstance(record.args, tuple) else ()
        if not isinstance(error, GATEWAY_CONNECTION_ERRORS):
            return True
        if message.startswith(SHARD_RECONNECT) and len(args) >= 2:
            shard_id, delay = args[0], args[1]
        elif message.startswith(SHARD_LAUNCH_RETRY) and args:
            shard_id, delay = args[0], SHARD_LAUNCH_RETRY_SECONDS
        else:
            return True
        if not self.connected():
            return False
        record.msg = "Shard %s cannot reach Discord's gateway at %s (%s); trying again in %.1f s"
        record.args = (shard_id, self.gateway_url, str(error) or type(error).__name__, delay)
        record.exc_info = None
        record.exc_text = None
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        return True


def make_typesetter(settings: Settings) -> Typesetter | None:
    """The typesetter for display math images, or None when `MATH_WORKERS=0`. Its worker
    processes start when the first formula needs them."""
    if settings.math_workers == 0:
        return None
    return Typesetter(
        cache_dir=settings.math_cache_dir,
        cache_max_bytes=settings.math_cache_max_bytes,
        workers=settings.math_workers,
        job_timeout=settings.math_timeout_seconds,
        memory_bytes=settings.math_worker_memory_bytes,
    )


async def run_bot(settings: Settings) -> None:
    """Log in, connect to the gateway and serve until stopped.

    Raises `aiohttp.ClientConnectionError` when Discord's REST API cannot be reached (logging
    in is the first request) and `GatewayUnreachableError` when the gateway cannot be reached
    the first time; later outages are retried with backoff, logged one line each.
    """
    token = require_token(settings)
    gateway_url = settings.discord_gateway_url or str(DiscordWebSocket.DEFAULT_GATEWAY)
    gateway_log = logging.getLogger("discord.shard")
    async with open_bot(settings) as bot:
        unreachable = GatewayUnreachableFilter(gateway_url, connected=lambda: bot.gateway_reached)
        gateway_log.addFilter(unreachable)
        stop_on_sigterm(bot)
        try:
            await bot.start(token)
        finally:
            gateway_log.removeFilter(unreachable)


def stop_on_sigterm(bot: ShortScienceBot) -> None:
    """Stop cleanly on SIGTERM (what systemd, Docker and Kubernetes send), as on Ctrl-C: the
    sessions are closed, the process leaves the registry at once, the database is closed."""
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def close() -> None:
        log.info("SIGTERM: stopping")
        if not closing:
            closing.append(asyncio.create_task(bot.close(), name="close-on-sigterm"))

    try:
        loop.add_signal_handler(signal.SIGTERM, close)
    except NotImplementedError:
        # Event loops without signal handlers (Windows): SIGTERM ends the process as before.
        log.debug("SIGTERM cannot be handled by this event loop")


async def sync_commands(settings: Settings, guild_id: int | None) -> int:
    """Log in over REST only, publish the slash commands, and return how many were synced."""
    token = require_token(settings)
    async with open_bot(settings, background_tasks=False, sync_on_start=False) as bot:
        await bot.login(token)
        synced = await bot.sync_commands(guild_id)
        return len(synced)
