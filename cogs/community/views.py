"""Modals and views of the community commands (the persistent vote buttons are in
`bot.community.buttons`)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord

from bot.community.resolve import MAX_PAPER_INPUT
from bot.community.service import BODY_LIMIT, TLDR_LIMIT, Draft
from bot.community.title_search import OptionKind, PaperOption
from bot.paged import PagedMessages
from bot.ui import BaseModal, OwnedView, update_message, within_deadline

# Interaction tokens last 15 minutes: a preview cannot be acted on after that anyway.
PREVIEW_TIMEOUT = 14 * 60.0
# A page that takes longer to show (its equation card being typeset) is deferred first.
SLOW_PAGE_SECONDS = 1.5
# Which paper a title means: time to choose, leaving time (within the interaction token's
# 15 minutes) to hand the member's text back when it runs out.
PICKER_TIMEOUT = 10 * 60.0
OPTION_EMOJI: dict[OptionKind, str] = {"known": "📚", "arxiv": "📄", "new": "➕"}

DraftHandler = Callable[[discord.Interaction, Draft], Awaitable[None]]


class SummaryModal(BaseModal):
    """Paper, TL;DR and summary; without the summary field when it comes from a file."""

    def __init__(
        self,
        *,
        title: str,
        draft: Draft,
        on_done: DraftHandler,
        ask_paper: bool = True,
        ask_body: bool = True,
    ) -> None:
        super().__init__(title=title, timeout=PREVIEW_TIMEOUT)
        self.draft = draft
        self.on_done = on_done
        self.paper: discord.ui.TextInput[SummaryModal] | None = None
        self.body: discord.ui.TextInput[SummaryModal] | None = None
        if ask_paper:
            self.paper = discord.ui.TextInput(
                label="Paper",
                placeholder="arXiv id or link, DOI, ShortScience link or bibtex key, or title",
                default=draft.paper[:MAX_PAPER_INPUT] or None,
                max_length=MAX_PAPER_INPUT,
                custom_id="paper",
            )
            self.add_item(self.paper)
        self.tldr: discord.ui.TextInput[SummaryModal] = discord.ui.TextInput(
            label="TL;DR (one paragraph)",
            style=discord.TextStyle.short,
            placeholder="What the paper does and why it matters, in a few sentences",
            default=draft.tldr[:TLDR_LIMIT] or None,
            max_length=TLDR_LIMIT,
            custom_id="tldr",
        )
        self.add_item(self.tldr)
        if ask_body:
            self.body = discord.ui.TextInput(
                label="Summary (Markdown, $LaTeX$ welcome)",
                style=discord.TextStyle.paragraph,
                placeholder="Longer than 4,000 characters? Use /summarize with a .md file.",
                default=draft.body[:BODY_LIMIT] or None,
                max_length=BODY_LIMIT,
                custom_id="body",
            )
            self.add_item(self.body)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        draft = Draft(
            paper=self.paper.value if self.paper is not None else self.draft.paper,
            tldr=self.tldr.value,
            body=self.body.value if self.body is not None else self.draft.body,
            file_name=self.draft.file_name,
        )
        await self.on_done(interaction, draft)


class PagedView(OwnedView):
    """Prev/Next over pages, for the owner only. Subclasses add their own buttons.

    Turning the page replaces the message's equation card with the new page's (or none)."""

    def __init__(
        self, owner_id: int, pages: PagedMessages, *, timeout: float = PREVIEW_TIMEOUT
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.pages = pages
        self.page = 0
        if pages.count > 1:
            self.previous_button = discord.ui.Button[PagedView](
                label="◀ Prev", style=discord.ButtonStyle.secondary, row=0, disabled=True
            )
            self.next_button = discord.ui.Button[PagedView](
                label="Next ▶", style=discord.ButtonStyle.secondary, row=0
            )
            self.previous_button.callback = self._previous
            self.next_button.callback = self._next
            self.add_item(self.previous_button)
            self.add_item(self.next_button)

    def _sync_buttons(self) -> None:
        if self.pages.count > 1:
            self.previous_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= self.pages.count - 1

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = max(0, min(self.pages.count - 1, self.page + step))
        self._sync_buttons()
        shown = await within_deadline(
            interaction, self.pages.page(self.page), patience=SLOW_PAGE_SECONDS, update=True
        )
        await update_message(
            interaction,
            embed=shown.embed,
            view=self,
            attachments=shown.files if self.pages.has_cards else None,
        )

    async def _previous(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, -1)

    async def _next(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, 1)


class DraftStep(OwnedView):
    """What the steps of writing a summary share (the paper picker, the preview): one action
    at a time, Edit (back to the form), Cancel, and a final word in place of the controls.

    A base of views that sets nothing up itself: `add_draft_buttons` adds Edit and Cancel."""

    busy = False
    done = False
    _on_edit: Callable[[discord.Interaction, Any], Awaitable[None]]

    def add_draft_buttons(
        self, on_edit: Callable[[discord.Interaction, Any], Awaitable[None]], *, row: int
    ) -> None:
        self._on_edit = on_edit
        edit = discord.ui.Button[DraftStep](
            label="Edit", style=discord.ButtonStyle.primary, row=row
        )
        cancel = discord.ui.Button[DraftStep](
            label="Cancel", style=discord.ButtonStyle.secondary, row=row
        )
        edit.callback = self._edit
        cancel.callback = self._cancel
        self.add_item(edit)
        self.add_item(cancel)

    async def one_at_a_time(
        self,
        interaction: discord.Interaction,
        action: Callable[[], Awaitable[None]],
        *,
        refusal: str,
    ) -> None:
        """Run `action` unless another is under way or the step is over (then `refusal`)."""
        if self.busy or self.done:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        self.busy = True
        try:
            await action()
        finally:
            self.busy = False

    async def _edit(self, interaction: discord.Interaction) -> None:
        await self._on_edit(interaction, self)

    async def _cancel(self, interaction: discord.Interaction) -> None:
        self.done = True
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled: nothing was saved.", embed=None, attachments=[], view=None
        )

    async def finish(self, content: str) -> None:
        """Replace the controls by a final word (published, replaced...)."""
        self.done = True
        self.stop()
        if self.message is not None:
            # The message may be gone or its token expired: then nothing is left to tidy.
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(content=content, view=None)


class PreviewView(DraftStep, PagedView):
    """The ephemeral preview: Publish / Edit / Cancel, usable by the author only."""

    def __init__(
        self,
        owner_id: int,
        pages: PagedMessages,
        *,
        publish_label: str,
        on_publish: Callable[[discord.Interaction, PreviewView], Awaitable[None]],
        on_edit: Callable[[discord.Interaction, PreviewView], Awaitable[None]],
        context: Any,
    ) -> None:
        super().__init__(owner_id, pages)
        self.context = context  # what the publish and edit handlers need (a draft, an id)
        self._on_publish = on_publish
        publish = discord.ui.Button[PreviewView](
            label=publish_label, style=discord.ButtonStyle.success, row=1
        )
        publish.callback = self._publish
        self.add_item(publish)
        self.add_draft_buttons(on_edit, row=1)

    async def _publish(self, interaction: discord.Interaction) -> None:
        await self.one_at_a_time(
            interaction,
            lambda: self._on_publish(interaction, self),
            refusal="This preview is already being published.",
        )

    async def on_timeout(self) -> None:
        if self.message is None or self.done:
            return
        with contextlib.suppress(discord.HTTPException):
            await self.message.edit(
                content="This preview expired and nothing was published. Copy your text from "
                "it if you want to submit again.",
                view=None,
            )


class PaperPickerView(DraftStep):
    """Which paper a typed title means: a menu of `PaperOption`s (known papers, arXiv's, a
    new one), Edit (back to the form) and Cancel; for the author only."""

    def __init__(
        self,
        owner_id: int,
        options: Sequence[PaperOption],
        *,
        on_pick: Callable[[discord.Interaction, PaperPickerView, str], Awaitable[None]],
        on_edit: Callable[[discord.Interaction, PaperPickerView], Awaitable[None]],
        on_expired: Callable[[PaperPickerView], Awaitable[None]],
        timeout: float = PICKER_TIMEOUT,
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self._on_pick = on_pick
        self._on_expired = on_expired
        self.menu = discord.ui.Select[PaperPickerView](
            placeholder="Which paper do you mean?",
            options=[
                discord.SelectOption(
                    label=option.label,
                    value=option.value,
                    description=option.description or None,
                    emoji=OPTION_EMOJI[option.kind],
                )
                for option in options
            ],
            row=0,
        )
        self.menu.callback = self._picked
        self.add_item(self.menu)
        self.add_draft_buttons(on_edit, row=1)

    async def _picked(self, interaction: discord.Interaction) -> None:
        await self.one_at_a_time(
            interaction,
            lambda: self._on_pick(interaction, self, self.menu.values[0]),
            refusal="One moment: your previous choice is being prepared.",
        )

    async def on_timeout(self) -> None:
        if self.message is not None and not self.done:
            self.done = True
            await self._on_expired(self)


class RetryView(OwnedView):
    """After a problem with a submission: reopen the form with what the member wrote."""

    def __init__(self, owner_id: int, reopen: Callable[[discord.Interaction], Awaitable[None]]):
        super().__init__(owner_id, timeout=PREVIEW_TIMEOUT)
        self._reopen = reopen
        button = discord.ui.Button[RetryView](
            label="Edit and try again", style=discord.ButtonStyle.primary
        )
        button.callback = self._clicked
        self.add_item(button)

    async def _clicked(self, interaction: discord.Interaction) -> None:
        await self._reopen(interaction)
