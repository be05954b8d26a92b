"""Base classes for views and modals: one error path, and views that check who may click."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import discord
from discord.utils import MISSING

from bot.errors import report_interaction_error

T = TypeVar("T")


class BaseView(discord.ui.View):
    """A view whose errors go through the central handler instead of a silent log line."""

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_interaction_error(interaction, error)


class OwnedView(BaseView):
    """A view only its owner may use; anyone else gets an ephemeral note.

    `message` is set by whoever sends the view, so the controls can be removed on timeout.
    """

    def __init__(self, owner_id: int, *, timeout: float | None = 300.0) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.message: discord.Message | discord.InteractionMessage | None = None

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These controls belong to the person who ran the command; run it yourself to "
            "get your own.",
            ephemeral=True,
        )
        return False

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        # The message may be gone or the token expired: then there is nothing left to tidy.
        with contextlib.suppress(discord.HTTPException):
            await self.message.edit(view=None)


class BaseModal(discord.ui.Modal):
    """A modal whose errors go through the central handler."""

    # discord.py's Modal.on_error itself drops the `item` argument of BaseView.on_error.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_interaction_error(interaction, error)


async def within_deadline(
    interaction: discord.Interaction,
    work: Awaitable[T],
    *,
    patience: float,
    update: bool = False,
    ephemeral: bool = False,
) -> T:
    """Await `work`; when it takes longer than `patience` seconds, acknowledge the
    interaction first (Discord drops answers after 3 s): "thinking" for a new reply (private
    with `ephemeral`: the reply that replaces it keeps its visibility), a deferred update for
    a component that edits its message (`update`)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=patience)
    if not done and not interaction.response.is_done():
        if update:
            await interaction.response.defer()
        else:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    return await task


async def update_message(
    interaction: discord.Interaction,
    *,
    embed: discord.Embed,
    view: discord.ui.View,
    attachments: Sequence[discord.File] | None = None,
) -> None:
    """Edit the message a component belongs to, whether or not the update was deferred.

    `attachments` replace the message's files (an empty list removes them); None keeps them."""
    files = MISSING if attachments is None else list(attachments)
    if interaction.response.is_done():
        await interaction.edit_original_response(embed=embed, view=view, attachments=files)
    else:
        await interaction.response.edit_message(embed=embed, view=view, attachments=files)
