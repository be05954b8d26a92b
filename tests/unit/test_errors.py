"""The central error reply: whatever it quotes, it fits in one Discord message."""

from __future__ import annotations

from typing import Any, cast

import discord

from bot.errors import MESSAGE_LENGTH_LIMIT, UserFacingError, report_interaction_error


class _Response:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []

    def is_done(self) -> bool:
        return False

    async def send_message(self, content: str, *, ephemeral: bool) -> None:
        self.sent.append((content, ephemeral))


class _Interaction:
    def __init__(self) -> None:
        self.response = _Response()


async def test_an_error_quoting_a_long_input_is_cut_to_fit() -> None:
    interaction = _Interaction()
    error = UserFacingError("I couldn't fetch <https://example.org/" + "x" * 5000 + ">.")
    await report_interaction_error(cast(discord.Interaction, cast(Any, interaction)), error)
    [(content, ephemeral)] = interaction.response.sent
    assert ephemeral and len(content) <= MESSAGE_LENGTH_LIMIT
    assert content.startswith("I couldn't fetch <https://example.org/xxx") and content.endswith("…")


async def test_a_database_outage_is_said_plainly_and_ephemerally() -> None:
    from discord import app_commands

    from bot.errors import DATABASE_UNAVAILABLE
    from bot.storage import DatabaseUnavailableError

    for error in (
        DatabaseUnavailableError("ConnectionRefusedError: [Errno 111]"),
        app_commands.CommandInvokeError(
            cast(Any, _Command()), DatabaseUnavailableError("connection was closed")
        ),
    ):
        interaction = _Interaction()
        await report_interaction_error(cast(discord.Interaction, interaction), error)
        assert interaction.response.sent == [(DATABASE_UNAVAILABLE, True)]
    assert DATABASE_UNAVAILABLE == "The database is unavailable, try again shortly."


class _Command:
    name = "latest"
    qualified_name = "latest"
