"""Errors whose message is meant for the person who ran a command."""

from __future__ import annotations

from discord import app_commands


class UserFacingError(app_commands.AppCommandError):
    """Raised with a message that is safe and useful to show the user, ephemerally."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
