"""Community summaries: /summarize, "Summarize this paper", /summary edit|delete|restore,
votes, /mysummaries, /leaderboard and /export."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Literal

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.announce.community import ANNOUNCEMENT_ENQUEUED, SummaryCard, enqueue_summary_cards
from bot.announce.components import marker_of
from bot.announce.messages import (
    COMMUNITY_SOURCE,
    OutgoingMessage,
    edited_headline,
    published_headline,
    summary_message,
)
from bot.bot import ShortScienceBot
from bot.community.arxiv import ArxivClient
from bot.community.buttons import VoteButton
from bot.community.cards import draft_summary, stored_summary, summary_display, with_text
from bot.community.export import EXPORT_FORMATS, ExportFormat, export_filename, export_guild
from bot.community.ratelimit import SlidingWindowLimiter
from bot.community.resolve import PaperResolver
from bot.community.service import (
    BODY_LIMIT,
    CommunityService,
    Draft,
    PaperQuestion,
    PreparedDraft,
    clean_body,
    clean_tldr,
    read_summary_file,
    summary_title,
)
from bot.community.summary_group import add_summary_subcommands, remove_summary_subcommands
from bot.community.title_search import paper_options, question_text
from bot.community.votes import format_score
from bot.errors import UserFacingError, logged_autocomplete
from bot.paged import PagedMessages
from bot.papers import PaperId, find_paper_ids, parse_paper_id
from bot.presenters import inline_title
from bot.rendering.pages import paginate_for_embed
from bot.rendering.text import neutralize_mentions, plural, shorten
from bot.storage.community import CommunityRepository, CommunitySummary
from bot.storage.database import Connection
from bot.storage.outbox import OutboxRepository
from bot.storage.papers import Paper, PaperRepository
from bot.storage.posts import SummaryPostRepository
from cogs.community.views import (
    PICKER_TIMEOUT,
    DraftStep,
    PagedView,
    PaperPickerView,
    PreviewView,
    RetryView,
    SummaryModal,
)

log = logging.getLogger(__name__)

COG_NAME = "Community"
CONTEXT_MENU_NAME = "Summarize this paper"
SUMMARY_SUBCOMMANDS = ("edit", "delete", "restore")
LEADERBOARD_PERIODS: dict[str, float | None] = {
    "week": 7 * 86400.0,
    "month": 30 * 86400.0,
    "year": 365 * 86400.0,
    "all": None,
}
NO_MENTIONS = discord.AllowedMentions.none()
# A summary too long for the modal goes back to its author as this file.
KEPT_TEXT_FILE = "your-summary.md"
THREAD_TYPES = frozenset(
    {
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    }
)


@dataclass(frozen=True, slots=True)
class EditContext:
    """What a preview of an edit to a stored summary carries."""

    summary_id: int
    tldr: str
    body: str | None  # None keeps the stored body (too long for the form)


def is_moderator(interaction: discord.Interaction) -> bool:
    return bool(interaction.permissions.manage_messages)


def card_channel_id(interaction: discord.Interaction) -> int | None:
    """Where a summary's card goes through the outbox: the channel it was written in, when
    the bot may post an embed there; None otherwise (the card then comes as a follow-up)."""
    permissions = interaction.app_permissions
    in_thread = getattr(interaction.channel, "type", None) in THREAD_TYPES
    may_send = permissions.send_messages_in_threads if in_thread else permissions.send_messages
    if interaction.channel_id is None or not (may_send and permissions.embed_links):
        return None
    return interaction.channel_id


def require_guild(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise UserFacingError("Community summaries belong to a server: use this in one.")
    return interaction.guild_id


def paper_choice_value(paper: Paper) -> str | None:
    """What an autocomplete choice submits for a paper (at most 100 characters)."""
    ids = paper.ids
    value = ids[0].display if ids else paper.title
    return value if 0 < len(value) <= 100 else None


async def paper_choices(
    bot: ShortScienceBot, current: str, guild_id: int | None
) -> list[app_commands.Choice[str]]:
    """Up to 25 papers for the `paper` options: a pasted identifier, then titles visible in
    this server starting with (or with a word starting with) what was typed, from the search
    index."""
    current = current.strip()
    choices: list[app_commands.Choice[str]] = []
    parsed = parse_paper_id(current) if current else None
    if isinstance(parsed, PaperId) and len(current) <= 100:
        choices.append(app_commands.Choice(name=shorten(current, 100), value=current))
    if len(current) >= 2:
        suggestions = await bot.search.autocomplete(current, guild_id=guild_id)
        papers = await PaperRepository(bot.db).get_many(s.paper_id for s in suggestions)
        for suggestion in suggestions:
            paper = papers.get(suggestion.paper_id)
            value = None if paper is None else paper_choice_value(paper)
            if value is not None and len(choices) < 25:
                choices.append(
                    app_commands.Choice(name=shorten(suggestion.title, 100), value=value)
                )
    return choices


def _retrieve_exception(task: asyncio.Task[bytes]) -> None:
    if not task.cancelled():
        task.exception()


class CommunityCog(commands.Cog, name=COG_NAME):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.clock: Callable[[], float] = time.time
        self.arxiv = ArxivClient(
            bot.http_session,
            api_url=settings.arxiv_api_url,
            min_interval=settings.arxiv_min_interval,
        )
        self.resolver = PaperResolver(bot.db, self.arxiv, clock=lambda: self.clock())
        self.limiter = SlidingWindowLimiter(
            settings.submissions_per_window, settings.submission_window_seconds
        )
        self.service = CommunityService(
            bot.db,
            self.resolver,
            limiter=self.limiter,
            cards=self._enqueue_cards,
            clock=lambda: self.clock(),
            search=bot.search,
        )
        self.picker_timeout = PICKER_TIMEOUT
        self.repo = CommunityRepository(bot.db)
        self.posts = SummaryPostRepository(bot.db)
        self.outbox = OutboxRepository(bot.db)
        self.context_menu = app_commands.ContextMenu(
            name=CONTEXT_MENU_NAME, callback=self.summarize_message
        )
        self.context_menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.context_menu)
        add_summary_subcommands(self.bot.tree, *self._summary_subcommands())
        self.bot.add_dynamic_items(VoteButton)
        self.bot.summary_buttons = self

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(CONTEXT_MENU_NAME, type=discord.AppCommandType.message)
        remove_summary_subcommands(self.bot.tree, *SUMMARY_SUBCOMMANDS)
        self.bot.remove_dynamic_items(VoteButton)
        if self.bot.summary_buttons is self:
            self.bot.summary_buttons = None

    async def _enqueue_cards(self, conn: Connection, card: SummaryCard) -> None:
        await enqueue_summary_cards(self.bot.db, card, conn)

    # --- writing -----------------------------------------------------------------------------

    @app_commands.command(
        name="summarize", description="Write a summary of a paper for this server"
    )
    @app_commands.guild_only()
    @app_commands.describe(
        paper="arXiv id or link, DOI, ShortScience link or bibtex key, or the paper's title",
        file="A .md or .txt file with a summary longer than 4,000 characters (up to 100 KB)",
    )
    async def summarize(
        self,
        interaction: discord.Interaction,
        paper: str | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        require_guild(interaction)
        self.service.check_rate(interaction.user.id)
        download: asyncio.Task[bytes] | None = None
        if file is not None:
            read_summary_file(file.filename, file.size)  # name and size, before downloading
            # Fetched while the member fills in the form (the modal must open within 3 s).
            download = asyncio.create_task(file.read())
            download.add_done_callback(_retrieve_exception)
        draft = Draft(
            paper=paper or "", tldr="", body="", file_name=file.filename if file else None
        )
        await interaction.response.send_modal(self._new_modal(draft, download=download))

    def _new_modal(
        self,
        draft: Draft,
        *,
        download: asyncio.Task[bytes] | None = None,
        title: str = "",
        replaces: DraftStep | None = None,
        previous: PreparedDraft | None = None,
    ) -> SummaryModal:
        return SummaryModal(
            title=title or "Summarize a paper",
            draft=draft,
            on_done=partial(
                self._draft_submitted, download=download, replaces=replaces, previous=previous
            ),
            ask_body=not draft.body_from_file,
        )

    async def summarize_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Message menu: open the form with the paper the message links to; without a
        link, with the title of its link preview (if any) for the member to check or type."""
        require_guild(interaction)
        self.service.check_rate(interaction.user.id)
        texts = [message.content]
        for embed in message.embeds:
            texts += [embed.url or "", embed.title or "", embed.description or ""]
        found = find_paper_ids("\n".join(texts))
        if found:
            paper = found[0].display
        else:
            paper = next((embed.title.strip() for embed in message.embeds if embed.title), "")
        draft = Draft(paper=paper, tldr="", body="")
        await interaction.response.send_modal(self._new_modal(draft))

    async def _draft_submitted(
        self,
        interaction: discord.Interaction,
        draft: Draft,
        *,
        download: asyncio.Task[bytes] | None = None,
        replaces: DraftStep | None = None,
        previous: PreparedDraft | None = None,
    ) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if download is not None:
            try:
                data = await download
            except (aiohttp.ClientError, discord.HTTPException) as exc:
                log.info("Could not download a summary file: %s", exc)
                raise UserFacingError(
                    "I couldn't download your file from Discord. Run /summarize again with "
                    f"the file. Your TL;DR was: {draft.tldr}"
                ) from exc
            try:
                body = read_summary_file(draft.file_name or "summary.md", len(data), data)
            except UserFacingError as exc:
                raise UserFacingError(f"{exc.message} Your TL;DR was: {draft.tldr}") from exc
            assert body is not None
            draft = replace(draft, body=body)
        try:
            prepared = await self.service.prepare(
                draft, guild_id=guild_id, author_id=interaction.user.id, previous=previous
            )
        except UserFacingError as exc:
            await self._offer_retry(interaction, draft, exc.message)
            return
        if replaces is not None:
            await replaces.finish("Replaced by your edited version below.")
        if isinstance(prepared, PaperQuestion):
            await self._ask_which_paper(interaction, prepared)
            return
        await self._show_preview(interaction, prepared)

    # --- which paper a typed title means ---------------------------------------------------

    async def _ask_which_paper(
        self, interaction: discord.Interaction, question: PaperQuestion
    ) -> None:
        """The picker: known papers, arXiv's matches, a new paper; the member's text waits."""
        view = PaperPickerView(
            interaction.user.id,
            paper_options(question.candidates),
            on_pick=partial(self._paper_picked, question=question),
            on_edit=partial(self._picker_edit_clicked, question=question),
            on_expired=partial(self._picker_expired, question=question),
            timeout=self.picker_timeout,
        )
        view.message = await interaction.edit_original_response(
            content=question_text(question.candidates), view=view, allowed_mentions=NO_MENTIONS
        )

    async def _paper_picked(
        self,
        interaction: discord.Interaction,
        view: PaperPickerView,
        choice: str,
        *,
        question: PaperQuestion,
    ) -> None:
        guild_id = require_guild(interaction)
        await interaction.response.defer()  # the preview replaces the picker
        prepared = await self.service.answer(
            question, choice, guild_id=guild_id, author_id=interaction.user.id
        )
        view.done = True
        view.stop()
        await self._show_preview(interaction, prepared)

    async def _picker_edit_clicked(
        self, interaction: discord.Interaction, view: PaperPickerView, *, question: PaperQuestion
    ) -> None:
        await interaction.response.send_modal(self._new_modal(question.draft, replaces=view))

    async def _picker_expired(self, view: PaperPickerView, *, question: PaperQuestion) -> None:
        """Time ran out before a choice: hand the member's text back (as a file, whatever
        its length) with a button reopening the form filled in with it."""
        if view.message is None:
            return
        draft = question.draft

        async def reopen(button_interaction: discord.Interaction) -> None:
            await button_interaction.response.send_modal(self._new_modal(draft))

        retry = RetryView(view.owner_id, reopen)
        retry.message = view.message
        kept = f"TL;DR: {draft.tldr}\n\n{draft.body}\n".encode()
        try:
            await view.message.edit(
                content="This choice expired and nothing was published. Your text is attached; "
                "**Edit and try again** reopens the form with it.",
                attachments=[discord.File(io.BytesIO(kept), filename=KEPT_TEXT_FILE)],
                view=retry,
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as exc:
            log.info("Could not hand back an expired paper choice: %s", exc)

    async def _offer_retry(
        self, interaction: discord.Interaction, draft: Draft, problem: str
    ) -> None:
        """Keep what the member wrote: a button reopens the form filled in with it."""

        async def reopen(button_interaction: discord.Interaction) -> None:
            await button_interaction.response.send_modal(self._new_modal(draft))

        view = RetryView(interaction.user.id, reopen)
        view.message = await interaction.edit_original_response(
            content=f"⚠️ {problem}\nNothing was published; your text is kept.",
            view=view,
            allowed_mentions=NO_MENTIONS,
        )

    async def _show_preview(
        self, interaction: discord.Interaction, prepared: PreparedDraft
    ) -> None:
        guild_id = require_guild(interaction)
        existing = prepared.existing
        draft = draft_summary(
            paper=prepared.resolved.paper,
            guild_id=guild_id,
            author_id=interaction.user.id,
            author_name=interaction.user.display_name,
            title=summary_title(prepared.resolved),
            tldr=prepared.draft.tldr,
            body=prepared.draft.body,
            existing_id=existing.id if existing else None,
            score=existing.score if existing else 0,
            now=self.clock(),
        )
        pages = await summary_display(
            draft,
            self.bot.typesetter,
            preview=True,
            page_chars=self.bot.settings.summary_page_chars,
        )
        first = await pages.page(0)
        notes = []
        if prepared.resolved.note:
            notes.append(f"⚠️ {prepared.resolved.note}")
        if prepared.existing is not None:
            notes.append(
                f"You already have a summary of this paper here (#{prepared.existing.id}, "
                f"score {format_score(prepared.existing.score)}). Publishing replaces its text; "
                "its votes stay."
            )
        notes.append("This is how your summary will look. Publish it, edit it, or cancel.")
        view = PreviewView(
            interaction.user.id,
            pages,
            publish_label="Replace my summary" if prepared.existing else "Publish",
            on_publish=self._publish_clicked,
            on_edit=self._edit_clicked,
            context=prepared,
        )
        view.message = await interaction.edit_original_response(
            content="\n".join(notes),
            embed=first.embed,
            attachments=first.files,
            view=view,
            allowed_mentions=NO_MENTIONS,
        )

    async def _publish_clicked(self, interaction: discord.Interaction, view: PreviewView) -> None:
        prepared: PreparedDraft = view.context
        guild_id = require_guild(interaction)
        self.service.acquire_rate(interaction.user.id)
        await interaction.response.defer()
        card_channel = card_channel_id(interaction)
        try:
            # The card (and a new summary's announcement) is queued with the summary itself.
            result = await self.service.publish(
                prepared,
                guild_id=guild_id,
                author_id=interaction.user.id,
                author_name=interaction.user.display_name,
                channel_id=card_channel,
            )
        except BaseException:
            self.limiter.release(interaction.user.id)
            raise
        self.bot.dispatch(ANNOUNCEMENT_ENQUEUED)
        view.done = True
        view.stop()
        word = "Published" if result.created else "Updated"
        # The preview's page (footer "Preview, not published yet") goes: the card posted
        # below is the summary now.
        await interaction.edit_original_response(
            content=f"{word}: summary #{result.summary_id}.", embed=None, view=None
        )
        if card_channel is None:
            headline = published_headline(
                interaction.user.id,
                created=result.created,
                paper_pending=prepared.resolved.pending,
            )
            await self._follow_up_card(interaction, result.summary_id, headline)

    async def _edit_clicked(self, interaction: discord.Interaction, view: PreviewView) -> None:
        context = view.context
        if isinstance(context, EditContext):
            await interaction.response.send_modal(self._edit_modal(context, replaces=view))
            return
        prepared: PreparedDraft = context
        modal = self._new_modal(
            prepared.draft, title="Edit your summary", replaces=view, previous=prepared
        )
        await interaction.response.send_modal(modal)

    async def _follow_up_card(
        self, interaction: discord.Interaction, summary_id: int, headline: str
    ) -> None:
        """The card as a follow-up, where the bot may not post itself (so the outbox cannot
        deliver it there): the member still sees what they published."""
        message = await self.card(summary_id, headline=headline)
        if message is None:
            return
        card = await interaction.followup.send(**message.send_arguments(), wait=True)
        # Remembered so a reading session's card can link to it.
        await self.posts.record(
            summary_id,
            guild_id=require_guild(interaction),
            channel_id=card.channel.id,
            message_id=card.id,
            now=self.clock(),
        )

    async def card(
        self, summary_id: int, *, headline: str | None = None, marker: str | None = None
    ) -> OutgoingMessage | None:
        """A community summary as announcements show it (rendered off the event loop)."""
        announced = await self.outbox.announced_summary(summary_id)
        if announced is None:
            return None
        return await asyncio.to_thread(
            partial(
                summary_message,
                announced,
                source_name=COMMUNITY_SOURCE,
                mention_role_id=None,
                headline=headline,
                marker=marker,
            )
        )

    # --- /summary edit | delete | restore ------------------------------------------------------

    def _summary_subcommands(self) -> list[app_commands.Command]:
        cog = self

        @app_commands.command(
            name="edit", description="Edit a community summary (yours, or as a moderator)"
        )
        @app_commands.describe(id="The summary's number, e.g. 12")
        async def edit(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
            await cog.edit_summary(interaction, id)

        @app_commands.command(
            name="delete", description="Delete a community summary (yours, or as a moderator)"
        )
        @app_commands.describe(id="The summary's number, e.g. 12")
        async def delete(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
            await cog.delete_summary(interaction, id)

        @app_commands.command(name="restore", description="Bring back a deleted community summary")
        @app_commands.describe(id="The summary's number, e.g. 12")
        async def restore(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
            await cog.restore_summary(interaction, id)

        return [edit, delete, restore]

    async def _changeable(
        self, interaction: discord.Interaction, summary_id: int
    ) -> CommunitySummary:
        summary = await self.service.get_in_guild(summary_id, require_guild(interaction))
        self.service.require_can_change(
            summary, interaction.user.id, is_moderator=is_moderator(interaction)
        )
        return summary

    async def edit_summary(self, interaction: discord.Interaction, summary_id: int) -> None:
        summary = await self._changeable(interaction, summary_id)
        if summary.is_deleted:
            raise UserFacingError(
                f"Summary #{summary_id} is deleted; restore it first with "
                f"`/summary restore id:{summary_id}`."
            )
        keep_body = len(summary.body) > BODY_LIMIT
        context = EditContext(summary_id, summary.tldr, None if keep_body else summary.body)
        await interaction.response.send_modal(self._edit_modal(context))

    def _edit_modal(
        self, context: EditContext, *, replaces: PreviewView | None = None
    ) -> SummaryModal:
        # A body longer than the form holds is kept; /summarize with a file replaces it.
        draft = Draft(
            paper="",
            tldr=context.tldr,
            body=context.body or "",
            file_name=None if context.body is not None else "kept",
        )
        return SummaryModal(
            title=f"Edit summary #{context.summary_id}",
            draft=draft,
            on_done=partial(self._edit_submitted, summary_id=context.summary_id, replaces=replaces),
            ask_paper=False,
            ask_body=context.body is not None,
        )

    async def _edit_submitted(
        self,
        interaction: discord.Interaction,
        draft: Draft,
        *,
        summary_id: int,
        replaces: PreviewView | None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self._changeable(interaction, summary_id)
        body = None if draft.body_from_file else draft.body
        context = EditContext(summary_id, draft.tldr, body)
        try:
            tldr = clean_tldr(draft.tldr)
            new_body = summary.body if body is None else clean_body(body)
        except UserFacingError as exc:

            async def reopen(button_interaction: discord.Interaction) -> None:
                await button_interaction.response.send_modal(self._edit_modal(context))

            retry = RetryView(interaction.user.id, reopen)
            retry.message = await interaction.edit_original_response(
                content=f"⚠️ {exc.message}\nNothing was changed; your text is kept.", view=retry
            )
            return
        if replaces is not None:
            await replaces.finish("Replaced by your edited preview.")
        stored = await stored_summary(self.bot.db, summary_id)
        assert stored is not None
        pages = await summary_display(
            with_text(stored, tldr=tldr, body=new_body),
            self.bot.typesetter,
            preview=True,
            page_chars=self.bot.settings.summary_page_chars,
        )
        first = await pages.page(0)
        view = PreviewView(
            interaction.user.id,
            pages,
            publish_label="Save changes",
            on_publish=self._save_edit_clicked,
            on_edit=self._edit_clicked,
            context=EditContext(summary_id, tldr, None if body is None else new_body),
        )
        view.message = await interaction.edit_original_response(
            content=f"Your changes to summary #{summary_id}, as they will look.",
            embed=first.embed,
            attachments=first.files,
            view=view,
        )

    async def _save_edit_clicked(self, interaction: discord.Interaction, view: PreviewView) -> None:
        context: EditContext = view.context
        summary = await self._changeable(interaction, context.summary_id)
        await interaction.response.defer()
        card_channel = card_channel_id(interaction)
        await self.service.edit(
            summary,
            tldr=context.tldr,
            body=context.body,
            editor_id=interaction.user.id,
            is_moderator=is_moderator(interaction),
            channel_id=card_channel,
        )
        self.bot.dispatch(ANNOUNCEMENT_ENQUEUED)
        view.done = True
        view.stop()
        await interaction.edit_original_response(
            content=f"Saved your changes to summary #{summary.id}.", embed=None, view=None
        )
        if card_channel is None:
            headline = edited_headline(
                interaction.user.id, summary.id, by_author=interaction.user.id == summary.author_id
            )
            await self._follow_up_card(interaction, summary.id, headline)

    async def delete_summary(self, interaction: discord.Interaction, summary_id: int) -> None:
        summary = await self._changeable(interaction, summary_id)
        await self.service.delete(
            summary, member_id=interaction.user.id, is_moderator=is_moderator(interaction)
        )
        if interaction.user.id == summary.author_id:
            after = (
                "Submit the paper again with /summarize to bring it back with new text, or ask a "
                f"moderator to `/summary restore id:{summary_id}`."
            )
        else:
            after = f"It can be brought back with `/summary restore id:{summary_id}`."
        await interaction.response.send_message(
            f"Deleted summary #{summary_id} ({shorten(summary.display_title, 100)}). {after}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def restore_summary(self, interaction: discord.Interaction, summary_id: int) -> None:
        summary = await self.service.get_in_guild(summary_id, require_guild(interaction))
        await self.service.restore(
            summary, member_id=interaction.user.id, is_moderator=is_moderator(interaction)
        )
        await interaction.response.send_message(
            f"Restored summary #{summary_id} ({shorten(summary.display_title, 100)}).",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # --- votes and the cards' buttons -----------------------------------------------------------

    async def handle_vote(
        self, interaction: discord.Interaction, summary_id: int, pressed: Literal[1, -1]
    ) -> None:
        summary = await self.repo.get(summary_id)
        if summary is None or summary.guild_id != interaction.guild_id:
            raise UserFacingError("This summary no longer exists.")
        if summary.is_deleted:
            raise UserFacingError("This summary was deleted, so it takes no votes.")
        if summary.author_id == interaction.user.id:
            raise UserFacingError("You can't vote on your own summary.")
        outcome = await self.service.vote(summary_id, interaction.user.id, pressed)
        # The card again with the new counts; its text (headline) and outbox marker stay.
        components = interaction.message.components if interaction.message else []
        card = await self.card(summary_id, marker=marker_of(components))
        if card is None:
            raise UserFacingError("This summary no longer exists.")
        await interaction.response.edit_message(
            embed=card.embed, view=card.view, allowed_mentions=NO_MENTIONS
        )
        score = f"Score now {format_score(outcome.score)}."
        if outcome.change.withdrawn:
            said = f"Your vote was withdrawn. {score}"
        else:
            vote = "👍" if outcome.change.new > 0 else "👎"
            said = f"You voted {vote}. {score} Press the same button again to withdraw it."
        await interaction.followup.send(said, ephemeral=True)

    # --- listings and export --------------------------------------------------------------------

    @app_commands.command(name="mysummaries", description="The summaries you wrote in this server")
    @app_commands.guild_only()
    async def mysummaries(self, interaction: discord.Interaction) -> None:
        guild_id = require_guild(interaction)
        summaries = await self.repo.list_for_author(
            guild_id=guild_id, author_id=interaction.user.id, limit=500
        )
        if not summaries:
            await interaction.response.send_message(
                "You haven't written a summary here yet. Start with `/summarize`.", ephemeral=True
            )
            return
        lines = []
        for summary in summaries:
            when = f"<t:{int(summary.edited_at)}:d>"
            state = " · *deleted*" if summary.is_deleted else ""
            title = inline_title(summary.display_title, 120)
            lines.append(
                f"`#{summary.id}` **{title}** · score {format_score(summary.score)} · {when}{state}"
            )
        pages = paginate_for_embed(
            "\n".join(lines),
            title=f"Your summaries ({len(summaries)})",
            footer_template="Open one with /summary view id · page {page} of {pages}",
        )
        embeds = [
            discord.Embed(title=p.title, description=p.description, colour=0x2F855A).set_footer(
                text=p.footer
            )
            for p in pages
        ]
        view = PagedView(interaction.user.id, PagedMessages(embeds))
        await interaction.response.send_message(embed=embeds[0], view=view, ephemeral=True)
        view.message = await interaction.original_response()

    @app_commands.command(name="leaderboard", description="Who wrote summaries and got votes here")
    @app_commands.guild_only()
    @app_commands.describe(period="Which stretch of time to count (default: the last 30 days)")
    @app_commands.choices(
        period=[
            app_commands.Choice(name="this week", value="week"),
            app_commands.Choice(name="this month", value="month"),
            app_commands.Choice(name="this year", value="year"),
            app_commands.Choice(name="all time", value="all"),
        ]
    )
    async def leaderboard(self, interaction: discord.Interaction, period: str = "month") -> None:
        guild_id = require_guild(interaction)
        length = LEADERBOARD_PERIODS.get(period, LEADERBOARD_PERIODS["month"])
        since = None if length is None else self.clock() - length
        rows = await self.repo.leaderboard(guild_id, since=since, limit=10)
        label = {"week": "last 7 days", "month": "last 30 days", "year": "last 365 days"}.get(
            period, "all time"
        )
        embed = discord.Embed(title=f"Leaderboard · {label}", colour=0xD69E2E)
        if not rows:
            embed.description = "No summaries or votes in that period yet. `/summarize` a paper!"
        else:
            medals = ["🥇", "🥈", "🥉"]
            lines = []
            for rank, row in enumerate(rows):
                marker = medals[rank] if rank < len(medals) else f"{rank + 1}."
                name = discord.utils.escape_markdown(neutralize_mentions(shorten(row.name, 60)))
                lines.append(
                    f"{marker} **{name}** · "
                    f"{plural(row.votes, 'vote', shown=format_score(row.votes))} received · "
                    f"{plural(row.summaries, 'summary')}"
                )
            embed.description = "\n".join(lines)
        embed.set_footer(text="Votes received on summaries, then summaries written")
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="export", description="This server's community summaries as a file")
    @app_commands.guild_only()
    @app_commands.describe(format="Markdown for reading, JSON for other tools (default Markdown)")
    @app_commands.choices(
        format=[app_commands.Choice(name=name, value=name) for name in EXPORT_FORMATS]
    )
    async def export(self, interaction: discord.Interaction, format: str = "markdown") -> None:
        guild_id = require_guild(interaction)
        fmt: ExportFormat = "json" if format == "json" else "markdown"
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await export_guild(self.bot.db, guild_id, fmt)
        count = await self.repo.count_visible(guild_id)
        if len(data) > interaction.filesize_limit:
            raise UserFacingError(
                f"The export is {len(data) / 1e6:.1f} MB, more than Discord lets me attach here "
                f"({interaction.filesize_limit / 1e6:.0f} MB). An operator can run "
                f"`shortscience-bot export --guild {guild_id}` instead."
            )
        name = export_filename(guild_id, fmt, today=datetime.now(UTC))
        await interaction.followup.send(
            f"{plural(count, 'community summary')} of this server.",
            file=discord.File(io.BytesIO(data), filename=name),
            ephemeral=True,
        )

    # --- autocomplete ---------------------------------------------------------------------------

    @summarize.autocomplete("paper")
    @logged_autocomplete
    async def _paper_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await paper_choices(self.bot, current, interaction.guild_id)
