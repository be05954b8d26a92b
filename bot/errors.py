"""Errors and the one place that turns them into what a Discord user sees.

A `UserFacingError` becomes its own message, ephemerally. Anything unexpected becomes an
ephemeral "something went wrong (error code X)" while the traceback is logged with the same
code, so no traceback ever reaches Discord.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import discord
from discord import app_commands

from bot.rendering.text import shorten
from bot.storage.database import DatabaseUnavailableError

log = logging.getLogger(__name__)

P = ParamSpec("P")
ChoiceT = TypeVar("ChoiceT", str, int, float)


# What a member sees while the database server is down or restarting: nothing was lost, and
# nothing half-done was kept (the transaction rolled back).
DATABASE_UNAVAILABLE = "The database is unavailable, try again shortly."


class UserFacingError(app_commands.AppCommandError):
    """Raised with a message that is safe and useful to show the user, ephemerally."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_error_code() -> str:
    """A short code the user can quote and an operator can find in the logs."""
    return secrets.token_hex(4).upper()


def _permission_names(permissions: list[str]) -> str:
    return ", ".join(p.replace("_", " ").title() for p in permissions)


def describe_error(error: BaseException) -> str:
    """The message for the user.

    Unexpected errors get a fresh error code that is logged together with the traceback.
    """
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.TransformerError):
        if isinstance(error.__cause__, UserFacingError):
            return error.__cause__.message
        return "One of the options you gave isn't valid here."
    if isinstance(error, UserFacingError):
        return error.message
    if isinstance(error, DatabaseUnavailableError) or isinstance(
        error.__cause__, DatabaseUnavailableError
    ):
        log.warning("A command found the database unavailable: %s", error)
        return DATABASE_UNAVAILABLE
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {_permission_names(error.missing_permissions)} permission to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"I need the {_permission_names(error.missing_permissions)} permission here to do that."
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    code = new_error_code()
    log.error("Unexpected error (error code %s)", code, exc_info=error)
    return f"Something went wrong (error code {code}). It has been logged."


# Discord refuses a message longer than this, and the user would then see nothing at all.
MESSAGE_LENGTH_LIMIT = 2000


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Reply ephemerally whether or not the interaction was already answered.

    Messages quote what users and feeds gave (addresses, names): whatever their length, the
    reply is cut to fit rather than refused.
    """
    message = shorten(message, MESSAGE_LENGTH_LIMIT)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        # The token may have expired or the channel vanished; the log is all we have left.
        log.warning("Could not tell the user about an error: %s", message, exc_info=True)


async def report_interaction_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The central handler for commands, views and modals."""
    await send_ephemeral(interaction, describe_error(error))


def logged_autocomplete(
    callback: Callable[P, Coroutine[Any, Any, list[app_commands.Choice[ChoiceT]]]],
) -> Callable[P, Coroutine[Any, Any, list[app_commands.Choice[ChoiceT]]]]:
    """Wrap an autocomplete callback: when it fails, the traceback is logged and the member
    gets an empty list of suggestions (discord.py alone would answer nothing at all, and
    Discord would show "Loading options failed")."""

    @functools.wraps(callback)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> list[app_commands.Choice[ChoiceT]]:
        try:
            return await callback(*args, **kwargs)
        except Exception:
            typed: Any = args[-1] if args else ""
            log.exception("Autocomplete %s failed for %r", callback.__qualname__, str(typed)[:100])
            return []

    return wrapper
