"""The buttons under a posted community summary: 👍 / 👎 and "Read it all".

They are `DynamicItem`s whose custom_id carries the summary id, registered with
`bot.add_dynamic_items`, so they work on any message that carries them (the card posted on
publishing, an announcement) and keep working after a restart. Attach them with
`vote_view(summary_id, ...)`.

What a click does is the Discord surface's business (a cog): it registers itself as the
bot's `summary_buttons` handler, and the buttons call whatever is registered. The core never
looks a cog up.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

import discord

from bot.errors import UserFacingError, report_interaction_error


class SummaryButtonHandler(Protocol):
    """Handles clicks on the buttons under a community summary."""

    async def handle_vote(
        self, interaction: discord.Interaction, summary_id: int, pressed: Literal[1, -1]
    ) -> None: ...

    async def handle_read_all(self, interaction: discord.Interaction, summary_id: int) -> None: ...


def _handler(interaction: discord.Interaction) -> SummaryButtonHandler:
    # `ShortScienceBot.summary_buttons`, set by the cog that handles the clicks.
    handler: SummaryButtonHandler | None = getattr(interaction.client, "summary_buttons", None)
    if handler is None:
        raise UserFacingError("Votes and summaries can't be opened right now; try again shortly.")
    return handler


VOTE_TEMPLATE = r"ss:vote:(?P<summary_id>[0-9]{1,19}):(?P<direction>up|down)"
READ_TEMPLATE = r"ss:read:(?P<summary_id>[0-9]{1,19})"


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    """👍 / 👎 on a posted community summary; works after restarts (state in custom_id)."""

    def __init__(self, summary_id: int, direction: str, count: int = 0) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if direction == "up" else "👎",
                label=str(count),
                custom_id=f"ss:vote:{summary_id}:{direction}",
            )
        )
        self.summary_id = summary_id
        self.direction = direction

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(int(match["summary_id"]), match["direction"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _handler(interaction).handle_vote(
                interaction, self.summary_id, 1 if self.direction == "up" else -1
            )
        except Exception as exc:  # the dynamic view's own handler would only log it
            await report_interaction_error(interaction, exc)


class ReadAllButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=READ_TEMPLATE):
    """Opens the whole summary, paged, for whoever clicks (ephemerally)."""

    def __init__(self, summary_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label="Read it all",
                custom_id=f"ss:read:{summary_id}",
            )
        )
        self.summary_id = summary_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ReadAllButton:
        return cls(int(match["summary_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _handler(interaction).handle_read_all(interaction, self.summary_id)
        except Exception as exc:
            await report_interaction_error(interaction, exc)


def vote_view(summary_id: int, *, up: int = 0, down: int = 0, pages: int = 1) -> discord.ui.View:
    """The buttons under a posted community summary (vote counts on the buttons; "Read it
    all" when the summary has more than one page)."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(summary_id, "up", up))
    view.add_item(VoteButton(summary_id, "down", down))
    if pages > 1:
        view.add_item(ReadAllButton(summary_id))
    return view
