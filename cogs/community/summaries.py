"""Community summaries: /summarize, "Summarize this paper", /summary edit|delete|restore,
votes, /mysummaries, /leaderboard and /export."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Literal

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
from bot.community.drafts import (
    EDIT_SUMMARY,
    FORM_LIFETIME,
    NEW_SUMMARY,
    DraftKind,
    DraftStore,
    StoredDraft,
    edit_draft,
)
from bot.community.export import EXPORT_FORMATS, ExportFormat, export_filename, export_guild
from bot.community.ratelimit import SubmissionLimiter
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
from bot.errors import UserFacingError, logged_autocomplete, report_interaction_error
from bot.paged import PagedMessages, PageMessage
from bot.papers import PaperId, find_paper_ids, parse_paper_id
from bot.presenters import inline_title
from bot.rendering.pages import paginate_for_embed
from bot.rendering.text import neutralize_mentions, plural, shorten
from bot.storage.community import CommunityRepository, CommunitySummary
from bot.storage.database import Connection
from bot.storage.outbox import OutboxRepository
from bot.storage.papers import Paper, PaperRepository
from bot.storage.posts import SummaryPostRepository
from bot.ui import (
    NOT_YOURS,
    QUICK_WRITE,
    Controls,
    ControlTimers,
    edit_message,
    modal_match,
    reply,
    submitted_values,
    update_message,
    within_deadline,
)
from cogs.community.views import (
    CONTROLS,
    FORM_TEMPLATE,
    DraftAction,
    mine_controls,
    picker_controls,
    preview_controls,
    retry_controls,
    summary_form,
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
FORM: Final = re.compile(FORM_TEMPLATE)
# Interaction tokens last 15 minutes: a preview cannot be acted on after that anyway.
PREVIEW_TIMEOUT: Final = 14 * 60.0
# Which paper a title means: time to choose, leaving time (within the interaction token's
# 15 minutes) to hand the member's text back when it runs out.
PICKER_TIMEOUT: Final = 10 * 60.0
# A page that takes longer to show (its equation card being typeset) is deferred first.
SLOW_PAGE_SECONDS: Final = 1.5
# A timer and the wall clock may disagree a little on when a draft expires.
TIMER_SLACK: Final = 2.0
# The rate check before a form opens: when the database takes longer than this to answer, the
# form opens anyway (it must be the command's first answer, within Discord's 3 s), and
# Publish, which counts the limit for certain, refuses if need be.
RATE_CHECK_PATIENCE: Final = 1.0
# A summary too long for the modal goes back to its author as this file.
KEPT_TEXT_FILE = "your-summary.md"
THREAD_TYPES = frozenset(
    {
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    }
)


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
        # In the database: one limit for every bot process.
        self.limiter = SubmissionLimiter(
            bot.db,
            settings.submissions_per_window,
            settings.submission_window_seconds,
            clock=lambda: self.clock(),
        )
        self.service = CommunityService(
            bot.db,
            self.resolver,
            limiter=self.limiter,
            cards=self._enqueue_cards,
            clock=lambda: self.clock(),
            search=bot.search,
        )
        self.drafts = DraftStore(bot.db, clock=lambda: self.clock())
        self.timers = ControlTimers()
        # Tests shorten these to see the steps expire.
        self.picker_timeout = PICKER_TIMEOUT
        self.preview_timeout = PREVIEW_TIMEOUT
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
        # Every control and form this cog sends is answered from its custom_id (and the
        # draft it names), whichever process sent it.
        self.bot.add_dynamic_items(VoteButton, *CONTROLS)
        self.bot.summary_buttons = self

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(CONTEXT_MENU_NAME, type=discord.AppCommandType.message)
        remove_summary_subcommands(self.bot.tree, *SUMMARY_SUBCOMMANDS)
        self.bot.remove_dynamic_items(VoteButton, *CONTROLS)
        if self.bot.summary_buttons is self:
            self.bot.summary_buttons = None
        self.timers.close()

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
        guild_id = require_guild(interaction)
        await self._check_rate_before_form(interaction.user.id)
        draft = Draft(
            paper=paper or "", tldr="", body="", file_name=file.filename if file else None
        )
        if file is None:
            await interaction.response.send_modal(summary_form(None, draft))
            return
        read_summary_file(file.filename, file.size)  # name and size, before downloading
        # The file is fetched when the form comes back, by whichever process receives it. The
        # draft is written before the form goes out: its submission may come at once.
        stored = await self.drafts.create(
            NEW_SUMMARY,
            owner_id=interaction.user.id,
            guild_id=guild_id,
            draft=draft,
            file_url=file.url,
            lifetime=FORM_LIFETIME,
        )
        await interaction.response.send_modal(summary_form(stored.id, draft, ask_body=False))

    async def _check_rate_before_form(self, member_id: int) -> None:
        """Refuse a member who could not publish anyway before they write, when the
        database says so in time (`RATE_CHECK_PATIENCE`); a slower answer is only logged."""
        check = asyncio.ensure_future(self.service.check_rate(member_id))
        done, _ = await asyncio.wait({check}, timeout=RATE_CHECK_PATIENCE)
        if done:
            check.result()  # UserFacingError: the member is at the limit
            return
        log.info("The rate check of member %d was slow: the form opens unchecked", member_id)
        check.add_done_callback(_late_rate_check_done)

    async def summarize_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Message menu: open the form with the paper the message links to; without a
        link, with the title of its link preview (if any) for the member to check or type."""
        require_guild(interaction)
        await self._check_rate_before_form(interaction.user.id)
        texts = [message.content]
        for embed in message.embeds:
            texts += [embed.url or "", embed.title or "", embed.description or ""]
        found = find_paper_ids("\n".join(texts))
        if found:
            paper = found[0].display
        else:
            paper = next((embed.title.strip() for embed in message.embeds if embed.title), "")
        await interaction.response.send_modal(
            summary_form(None, Draft(paper=paper, tldr="", body=""))
        )

    @commands.Cog.listener("on_interaction")
    async def route_forms(self, interaction: discord.Interaction) -> None:
        """Summary forms, submitted to whichever process: routed by their custom_id."""
        match = modal_match(interaction, FORM)
        if match is None:
            return
        try:
            state_id = None if match["state"] == "new" else match["state"]
            await self.form_submitted(interaction, state_id)
        except Exception as exc:
            await report_interaction_error(interaction, exc)

    async def form_submitted(self, interaction: discord.Interaction, state_id: str | None) -> None:
        values = submitted_values(interaction)
        base = None if state_id is None else await self.drafts.get(state_id)
        if base is not None and base.owner_id != interaction.user.id:
            raise UserFacingError(NOT_YOURS)
        if state_id is not None and base is None and "paper" not in values:
            # An edit's form whose draft was pruned (days later): it names no summary.
            raise UserFacingError(
                "This form is too old to use: run the command again. Your TL;DR was: "
                + values.get("tldr", "")
            )
        # A form opened from a message (a preview, the picker, a retry) replaces that message
        # once the new step is ready; answers come as follow-ups.
        if interaction.message is not None:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        if base is not None and base.kind == EDIT_SUMMARY:
            await self._edit_submitted(interaction, base, values)
        else:
            await self._draft_submitted(interaction, base, values)

    async def _draft_submitted(
        self, interaction: discord.Interaction, base: StoredDraft | None, values: dict[str, str]
    ) -> None:
        guild_id = require_guild(interaction)
        earlier = Draft("", "", "") if base is None else base.draft
        in_form = "body" in values
        draft = Draft(
            paper=values.get("paper", earlier.paper),
            tldr=values.get("tldr", ""),
            body=values["body"] if in_form else earlier.body,
            file_name=None if in_form else earlier.file_name,
        )
        if base is not None and not in_form and base.file_url and not draft.body:
            draft = replace(draft, body=await self._download_body(base.file_url, draft))
        previous = None
        if base is not None and base.step == "preview" and base.paper is not None:
            try:
                previous = PreparedDraft(base.draft, await self.drafts.resolved(base), None)
            except UserFacingError:
                previous = None  # its paper is gone: the paper field is looked up again
        try:
            prepared = await self.service.prepare(
                draft, guild_id=guild_id, author_id=interaction.user.id, previous=previous
            )
        except UserFacingError as exc:
            await self._offer_retry(interaction, NEW_SUMMARY, draft, exc.message)
            return
        if base is not None:
            await self._replaced(interaction, base, "Replaced by your edited version below.")
        if isinstance(prepared, PaperQuestion):
            await self._ask_which_paper(interaction, prepared)
            return
        stored = await self.drafts.create(
            NEW_SUMMARY,
            owner_id=interaction.user.id,
            guild_id=guild_id,
            draft=prepared.draft,
            step="preview",
            resolved=prepared.resolved,
            lifetime=self.preview_timeout,
        )
        await self._show_preview(interaction, stored, prepared, new_message=True)

    async def _download_body(self, url: str, draft: Draft) -> str:
        """The summary in the attached file (checked again: size, type, UTF-8)."""
        try:
            data = await self.bot.http.get_from_cdn(url)
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
        return body

    async def _replaced(
        self, interaction: discord.Interaction, base: StoredDraft, word: str
    ) -> None:
        """The step a form was opened from is over: its message says so, without controls."""
        await self.drafts.finish(base.id, "replaced")
        if interaction.message is None:
            return
        self.timers.disarm(interaction.message.id)
        try:
            await interaction.edit_original_response(content=word, view=None)
        except discord.HTTPException as exc:
            # The message may be gone or its token expired: the new step stands anyway.
            log.info("Could not mark a replaced draft message: %s", exc)

    async def _offer_retry(
        self,
        interaction: discord.Interaction,
        kind: DraftKind,
        draft: Draft,
        problem: str,
        *,
        summary_id: int | None = None,
    ) -> None:
        """Keep what the member wrote: a button reopens the form filled in with it."""
        stored = await self.drafts.create(
            kind,
            owner_id=interaction.user.id,
            guild_id=require_guild(interaction),
            draft=draft,
            summary_id=summary_id,
            lifetime=FORM_LIFETIME,
        )
        what = "changed" if kind == EDIT_SUMMARY else "published"
        await reply(
            interaction,
            content=f"⚠️ {problem}\nNothing was {what}; your text is kept.",
            view=retry_controls(stored.id),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # --- which paper a typed title means ---------------------------------------------------

    async def _ask_which_paper(
        self, interaction: discord.Interaction, question: PaperQuestion
    ) -> None:
        """The picker: known papers, arXiv's matches, a new paper; the member's text waits."""
        stored = await self.drafts.create(
            NEW_SUMMARY,
            owner_id=interaction.user.id,
            guild_id=require_guild(interaction),
            draft=question.draft,
            step="picker",
            pending=question.pending,
            lifetime=self.picker_timeout,
        )
        message = await reply(
            interaction,
            content=question_text(question.candidates),
            view=picker_controls(stored.id, paper_options(question.candidates)),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        self._expire_later(message.id, stored.id, self.picker_timeout, message.edit)

    async def _paper_picked(
        self, interaction: discord.Interaction, stored: StoredDraft, choice: str
    ) -> None:
        """The preview, in place of the picker, once the paper is resolved."""
        guild_id = require_guild(interaction)
        assert stored.pending is not None
        try:
            prepared = await self.service.answer(
                stored.pending, choice, guild_id=guild_id, author_id=interaction.user.id
            )
        except BaseException:
            await self.drafts.release(stored.id)  # the picker stays, for another choice
            raise
        preview = await self.drafts.to_preview(
            stored, prepared.draft, prepared.resolved, lifetime=self.preview_timeout
        )
        await self._show_preview(interaction, preview, prepared, new_message=False)

    # --- expiry: the member's text handed back ----------------------------------------------

    def _expire_later(
        self, message_id: int, state_id: str, delay: float, edit: Callable[..., Any]
    ) -> None:
        """When the draft's step has not been used for `delay` seconds, hand its text back
        in its message (unless it was used meanwhile, by any process)."""

        async def expire() -> None:
            if not await self.drafts.expire(state_id, slack=TIMER_SLACK):
                return
            stored = await self.drafts.get(state_id)
            if stored is not None:
                await edit(**self._handed_back(stored))

        self.timers.arm(message_id, delay, expire)

    def _handed_back(self, stored: StoredDraft) -> dict[str, Any]:
        """A step that expired: nothing was published; the member's text as a file (whatever
        its length) and a button reopening the form filled in with it."""
        step = {"picker": "choice", "preview": "preview"}.get(stored.step, "draft")
        what = "changed" if stored.kind == EDIT_SUMMARY else "published"
        draft = stored.draft
        body = "" if stored.keeps_body else draft.body
        kept = f"TL;DR: {draft.tldr}\n\n{body}\n".encode()
        return {
            "content": f"This {step} expired and nothing was {what}. Your text is attached; "
            "**Edit and try again** reopens the form with it.",
            "embed": None,
            "attachments": [discord.File(io.BytesIO(kept), filename=KEPT_TEXT_FILE)],
            "view": retry_controls(stored.id),
            "allowed_mentions": NO_MENTIONS,
        }

    # --- the preview -------------------------------------------------------------------------

    async def _preview_pages(
        self, interaction: discord.Interaction, stored: StoredDraft, prepared: PreparedDraft | None
    ) -> tuple[PagedMessages, str]:
        """The preview's pages, from the draft as kept (whichever process shows them), and
        what its Publish button says."""
        guild_id = require_guild(interaction)
        publish_label = "Save changes"
        if stored.kind == EDIT_SUMMARY:
            assert stored.summary_id is not None
            summary = await stored_summary(self.bot.db, stored.summary_id)
            if summary is None:
                raise UserFacingError(f"Summary #{stored.summary_id} no longer exists.")
            body = summary.body if stored.keeps_body else stored.draft.body
            shown = with_text(summary, tldr=stored.draft.tldr, body=body)
        else:
            if prepared is None:
                prepared = await self._prepared(interaction, stored)
            existing = prepared.existing
            publish_label = "Replace my summary" if existing else "Publish"
            shown = draft_summary(
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
            shown,
            self.bot.typesetter,
            preview=True,
            page_chars=self.bot.settings.summary_page_chars,
        )
        return pages, publish_label

    async def _prepared(
        self, interaction: discord.Interaction, stored: StoredDraft
    ) -> PreparedDraft:
        """A kept preview's draft and paper, with the author's summary of it as stored now."""
        return await self.service.with_paper(
            stored.draft,
            await self.drafts.resolved(stored),
            guild_id=require_guild(interaction),
            author_id=interaction.user.id,
        )

    async def _show_preview(
        self,
        interaction: discord.Interaction,
        stored: StoredDraft,
        prepared: PreparedDraft,
        *,
        new_message: bool,
    ) -> None:
        pages, publish_label = await self._preview_pages(interaction, stored, prepared)
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
        controls = preview_controls(
            stored.id, page=0, pages=pages.count, publish_label=publish_label
        )
        await self._send_step(
            interaction,
            stored,
            new_message=new_message,
            content="\n".join(notes),
            embed=first.embed,
            files=first.files,
            view=controls,
        )

    async def _send_step(
        self,
        interaction: discord.Interaction,
        stored: StoredDraft,
        *,
        new_message: bool,
        content: str,
        embed: discord.Embed,
        files: list[discord.File],
        view: Controls,
    ) -> None:
        """Show a preview as a new private message, or in place of the message the
        interaction came from; it expires after `preview_timeout` without use."""
        if new_message:
            message = await reply(
                interaction,
                content=content,
                embed=embed,
                files=files,
                view=view,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            self._expire_later(message.id, stored.id, self.preview_timeout, message.edit)
            return
        await interaction.edit_original_response(
            content=content,
            embed=embed,
            attachments=files,
            view=view,
            allowed_mentions=NO_MENTIONS,
        )
        assert interaction.message is not None
        self._expire_later(
            interaction.message.id,
            stored.id,
            self.preview_timeout,
            interaction.edit_original_response,
        )

    # --- the buttons of a draft ---------------------------------------------------------------

    async def draft_action(
        self,
        interaction: discord.Interaction,
        state_id: str,
        action: DraftAction,
        *,
        page: int = 0,
        choice: str | None = None,
    ) -> None:
        stored = await self.drafts.get(state_id)
        if stored is None:
            raise UserFacingError(
                "This draft is no longer kept (drafts are kept a day): nothing was published. "
                "Run /summarize again."
            )
        if stored.owner_id != interaction.user.id:
            raise UserFacingError(NOT_YOURS)
        if action == "edit":
            await self._open_form(interaction, stored)
            return
        if action in ("prev", "next"):
            await self._turn_preview(interaction, stored, page)
            return
        if action == "cancel":
            await self._cancel(interaction, stored)
            return
        # The rest changes the draft: one action at a time, whichever process runs it.
        await interaction.response.defer()
        claimed = await self.drafts.claim(state_id)
        if claimed is None:
            await self._unavailable(interaction, stored, action)
            return
        if claimed.state.expired(self.clock()):
            await self._expired_now(interaction, claimed)
            return
        if action == "pick" and claimed.step == "picker" and choice is not None:
            await self._paper_picked(interaction, claimed, choice)
        elif action == "publish" and claimed.step == "preview":
            if claimed.kind == EDIT_SUMMARY:
                await self._save_edit(interaction, claimed)
            else:
                await self._publish(interaction, claimed)
        else:
            await self.drafts.release(state_id)
            raise UserFacingError("That button belongs to another step of this draft.")

    async def _unavailable(
        self, interaction: discord.Interaction, stored: StoredDraft, action: DraftAction
    ) -> None:
        """Why a draft could not be taken: another action is under way, or it is over."""
        current = await self.drafts.get(stored.id) or stored
        outcome = current.state.outcome
        if outcome is None:
            text = (
                "One moment: your previous choice is being prepared."
                if action == "pick"
                else "This preview is already being published."
            )
        elif outcome.startswith("published"):
            text = f"This draft was already published ({outcome.removeprefix('published ')})."
        elif outcome == "saved":
            text = "These changes were already saved."
        elif outcome == "cancelled":
            text = "This draft was cancelled: nothing was saved."
        elif outcome == "replaced":
            text = "This draft was replaced by your edited version."
        else:
            text = "This draft expired and nothing was published: press **Edit and try again**."
        await interaction.followup.send(text, ephemeral=True)

    async def _expired_now(self, interaction: discord.Interaction, stored: StoredDraft) -> None:
        """A click on a step whose time is up (the process that would have handed the text
        back stopped meanwhile): hand it back now."""
        await self.drafts.finish(stored.id, "expired")
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
        await interaction.edit_original_response(**self._handed_back(stored))

    async def _open_form(self, interaction: discord.Interaction, stored: StoredDraft) -> None:
        """Edit (and Edit and try again): the form with the draft's text; an expired draft
        too, so nothing typed is lost."""
        outcome = stored.state.outcome
        if outcome not in (None, "expired"):
            await interaction.response.defer()
            await self._unavailable(interaction, stored, "edit")
            return
        if stored.kind == EDIT_SUMMARY:
            form = summary_form(
                stored.id,
                stored.draft,
                title=f"Edit summary #{stored.summary_id}",
                ask_paper=False,
                ask_body=not stored.keeps_body,
            )
        else:
            title = "Edit your summary" if stored.step == "preview" else "Summarize a paper"
            form = summary_form(
                stored.id, stored.draft, title=title, ask_body=not stored.draft.body_from_file
            )
        await interaction.response.send_modal(form)

    async def _turn_preview(
        self, interaction: discord.Interaction, stored: StoredDraft, page: int
    ) -> None:
        """Prev/Next on a preview, rendered again from the draft as kept."""
        if stored.step != "preview" or stored.state.outcome is not None:
            await interaction.response.defer()
            await self._unavailable(interaction, stored, "next")
            return
        if stored.state.expired(self.clock()):
            await interaction.response.defer()
            await self._expired_now(interaction, stored)
            return

        async def shown() -> tuple[PagedMessages, str, int, PageMessage]:
            pages, publish_label = await self._preview_pages(interaction, stored, None)
            index = max(0, min(page, pages.count - 1))
            return pages, publish_label, index, await pages.page(index)

        pages, publish_label, index, message = await within_deadline(
            interaction, shown(), patience=SLOW_PAGE_SECONDS, update=True
        )
        controls = preview_controls(
            stored.id, page=index, pages=pages.count, publish_label=publish_label
        )
        await update_message(
            interaction,
            embed=message.embed,
            view=controls,
            attachments=message.files if pages.has_cards else None,
        )
        await self.drafts.touch(stored.id, lifetime=self.preview_timeout)
        assert interaction.message is not None
        self._expire_later(
            interaction.message.id,
            stored.id,
            self.preview_timeout,
            interaction.edit_original_response,
        )

    async def _cancel(self, interaction: discord.Interaction, stored: StoredDraft) -> None:
        """Cancel: the draft is done with (unless an action holds it, or it is over)."""

        async def cancelled() -> bool:
            return await self.drafts.claim(stored.id) is not None and await self.drafts.finish(
                stored.id, "cancelled"
            )

        done = await within_deadline(interaction, cancelled(), patience=QUICK_WRITE, update=True)
        if not done:
            if not interaction.response.is_done():
                await interaction.response.defer()
            await self._unavailable(interaction, stored, "cancel")
            return
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
        await edit_message(
            interaction,
            content="Cancelled: nothing was saved.",
            embed=None,
            attachments=[],
            view=None,
        )

    async def _publish(self, interaction: discord.Interaction, stored: StoredDraft) -> None:
        guild_id = require_guild(interaction)
        try:
            token = await self.service.acquire_rate(interaction.user.id)
        except BaseException:
            await self.drafts.release(stored.id)  # the preview stays, to publish later
            raise
        card_channel = card_channel_id(interaction)
        try:
            prepared = await self._prepared(interaction, stored)
            # The card (and a new summary's announcement) is queued with the summary itself.
            result = await self.service.publish(
                prepared,
                guild_id=guild_id,
                author_id=interaction.user.id,
                author_name=interaction.user.display_name,
                channel_id=card_channel,
            )
        except BaseException:
            await self.service.release_rate(token)
            await self.drafts.release(stored.id)
            raise
        await self.drafts.finish(stored.id, f"published #{result.summary_id}")
        self.bot.dispatch(ANNOUNCEMENT_ENQUEUED)
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
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
        # A body longer than the form holds is kept; /summarize with a file replaces it.
        keep_body = len(summary.body) > BODY_LIMIT
        draft = edit_draft(summary.tldr, None if keep_body else summary.body)
        # The draft first: the form's submission may come at once, to another process.
        stored = await self.drafts.create(
            EDIT_SUMMARY,
            owner_id=interaction.user.id,
            guild_id=require_guild(interaction),
            draft=draft,
            summary_id=summary_id,
            lifetime=FORM_LIFETIME,
        )
        await interaction.response.send_modal(
            summary_form(
                stored.id,
                draft,
                title=f"Edit summary #{summary_id}",
                ask_paper=False,
                ask_body=not keep_body,
            )
        )

    async def _edit_submitted(
        self, interaction: discord.Interaction, base: StoredDraft, values: dict[str, str]
    ) -> None:
        assert base.summary_id is not None
        summary_id = base.summary_id
        summary = await self._changeable(interaction, summary_id)
        body = values.get("body")  # None: the stored body stays (too long for the form)
        draft = edit_draft(values.get("tldr", ""), body)
        try:
            tldr = clean_tldr(draft.tldr)
            new_body = summary.body if body is None else clean_body(body)
        except UserFacingError as exc:
            await self._offer_retry(
                interaction, EDIT_SUMMARY, draft, exc.message, summary_id=summary_id
            )
            return
        await self._replaced(interaction, base, "Replaced by your edited preview.")
        stored = await self.drafts.create(
            EDIT_SUMMARY,
            owner_id=interaction.user.id,
            guild_id=require_guild(interaction),
            draft=edit_draft(tldr, None if body is None else new_body),
            summary_id=summary_id,
            step="preview",
            lifetime=self.preview_timeout,
        )
        pages, publish_label = await self._preview_pages(interaction, stored, None)
        first = await pages.page(0)
        await self._send_step(
            interaction,
            stored,
            new_message=True,
            content=f"Your changes to summary #{summary_id}, as they will look.",
            embed=first.embed,
            files=first.files,
            view=preview_controls(
                stored.id, page=0, pages=pages.count, publish_label=publish_label
            ),
        )

    async def _save_edit(self, interaction: discord.Interaction, stored: StoredDraft) -> None:
        assert stored.summary_id is not None
        card_channel = card_channel_id(interaction)
        try:
            summary = await self._changeable(interaction, stored.summary_id)
            await self.service.edit(
                summary,
                tldr=stored.draft.tldr,
                body=None if stored.keeps_body else stored.draft.body,
                editor_id=interaction.user.id,
                is_moderator=is_moderator(interaction),
                channel_id=card_channel,
            )
        except BaseException:
            await self.drafts.release(stored.id)
            raise
        await self.drafts.finish(stored.id, "saved")
        self.bot.dispatch(ANNOUNCEMENT_ENQUEUED)
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
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
        embeds = await self._mine(interaction)
        if not embeds:
            await interaction.response.send_message(
                "You haven't written a summary here yet. Start with `/summarize`.", ephemeral=True
            )
            return
        controls = mine_controls(page=0, pages=len(embeds))
        message = await reply(interaction, embed=embeds[0], view=controls, ephemeral=True)
        self.timers.arm(message.id, self.preview_timeout, lambda: message.edit(view=None))

    async def turn_mine(self, interaction: discord.Interaction, page: int) -> None:
        """Prev/Next of /mysummaries: the clicker's own list again, at that page (the
        message is private, and whoever clicks sees only their own summaries)."""
        embeds = await self._mine(interaction)
        if not embeds:
            raise UserFacingError("You have no summaries here any more.")
        index = max(0, min(page, len(embeds) - 1))
        await interaction.response.edit_message(
            embed=embeds[index], view=mine_controls(page=index, pages=len(embeds))
        )
        assert interaction.message is not None
        self.timers.arm(
            interaction.message.id,
            self.preview_timeout,
            lambda: interaction.edit_original_response(view=None),
        )

    async def _mine(self, interaction: discord.Interaction) -> list[discord.Embed]:
        """The pages listing the summaries the member wrote here."""
        guild_id = require_guild(interaction)
        summaries = await self.repo.list_for_author(
            guild_id=guild_id, author_id=interaction.user.id, limit=500
        )
        if not summaries:
            return []
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
        return [
            discord.Embed(title=p.title, description=p.description, colour=0x2F855A).set_footer(
                text=p.footer
            )
            for p in pages
        ]

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
        export = await export_guild(self.bot.db, guild_id, fmt)
        if len(export.data) > interaction.filesize_limit:
            raise UserFacingError(
                f"The export is {len(export.data) / 1e6:.1f} MB, more than Discord lets me "
                "attach here "
                f"({interaction.filesize_limit / 1e6:.0f} MB). An operator can run "
                f"`shortscience-bot export --guild {guild_id}` instead."
            )
        name = export_filename(guild_id, fmt, today=datetime.now(UTC))
        await interaction.followup.send(
            f"{plural(export.summaries, 'community summary')} of this server.",
            file=discord.File(io.BytesIO(export.data), filename=name),
            ephemeral=True,
        )

    # --- autocomplete ---------------------------------------------------------------------------

    @summarize.autocomplete("paper")
    @logged_autocomplete
    async def _paper_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await paper_choices(self.bot, current, interaction.guild_id)


def _late_rate_check_done(check: asyncio.Future[None]) -> None:
    """A rate check that came too late to refuse the form: its error, if it failed for
    another reason than the limit, is logged (Publish checks the limit again anyway)."""
    if check.cancelled():
        return
    error = check.exception()
    if error is not None and not isinstance(error, UserFacingError):
        log.error("A late rate check failed", exc_info=error)
