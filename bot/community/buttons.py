"""The 👍 / 👎 buttons under a posted community summary.

`VoteButton` is a `DynamicItem` whose custom_id carries the summary id, registered by the
community cog with `bot.add_dynamic_items`, so it works on any message that carries it (the
card posted on publishing, an announcement) and keeps working after a restart. The buttons
themselves are built with the other announcement buttons in `bot.announce.components`.

What a click does is the Discord surface's business (a cog): it registers itself as the
bot's `summary_buttons` handler, and the buttons call whatever is registered. The core never
looks a cog up.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

import discord

from bot.announce.components import VOTE_TEMPLATE, vote_button
from bot.errors import UserFacingError, report_interaction_error

COMMUNITY_COG_NAME = "Community"


class SummaryButtonHandler(Protocol):
    """Handles clicks on the buttons under a community summary."""

    async def handle_vote(
        self, interaction: discord.Interaction, summary_id: int, pressed: Literal[1, -1]
    ) -> None: ...


def _handler(interaction: discord.Interaction) -> SummaryButtonHandler:
    # `ShortScienceBot.summary_buttons`, set by the cog that handles the clicks.
    handler: SummaryButtonHandler | None = getattr(interaction.client, "summary_buttons", None)
    if handler is None:
        raise UserFacingError("Votes and summaries can't be opened right now; try again shortly.")
    return handler


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE):
    """👍 / 👎 on a posted community summary; works after restarts (state in custom_id)."""

    def __init__(self, summary_id: int, direction: str, count: int = 0) -> None:
        super().__init__(vote_button(summary_id, direction, count))
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
