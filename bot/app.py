"""Building and running the bot: what `shortscience-bot run` and the tests both use."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

from bot import __version__
from bot.bot import DEFAULT_EXTENSIONS, ShortScienceBot
from bot.config import Settings
from bot.net import public_only_session_options
from bot.search import SearchService
from bot.storage import Database

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
) -> AsyncIterator[ShortScienceBot]:
    """Open the database, the search index and the HTTP session, build the bot, and close
    them all on exit."""
    configure_discord_endpoints(settings)
    db = await Database.open(settings.database_path)
    search: SearchService | None = None
    try:
        # Migrated before the search index opens: it reads the change log.
        await db.migrate()
        search = SearchService(settings.database_path, settings.resolved_search_index_path)
        await search.start(db)
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
                extensions=extensions,
                background_tasks=background_tasks,
                sync_on_start=sync_on_start,
            )
            async with bot:
                yield bot
    finally:
        if search is not None:
            await search.close()
        await db.close()


async def run_bot(settings: Settings) -> None:
    """Log in, connect to the gateway and serve until stopped."""
    token = require_token(settings)
    async with open_bot(settings) as bot:
        await bot.start(token)


async def sync_commands(settings: Settings, guild_id: int | None) -> int:
    """Log in over REST only, publish the slash commands, and return how many were synced."""
    token = require_token(settings)
    async with open_bot(settings, background_tasks=False, sync_on_start=False) as bot:
        await bot.login(token)
        synced = await bot.sync_commands(guild_id)
        return len(synced)
