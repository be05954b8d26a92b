"""Reading sessions: /reading start | status | close, and the reminder a day before the due date."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.announce.messages import role_mentions
from bot.background import BackgroundLoop
from bot.bot import ShortScienceBot
from bot.community.reading import (
    READING_WORDING,
    KnownSummary,
    card_content,
    parse_due,
    reminder_text,
    session_card,
    start_session,
    status_lines,
    thread_name,
)
from bot.community.resolve import PaperResolver, ResolvedPaper
from bot.community.title_search import (
    PaperOption,
    TitleCandidates,
    TitleFinder,
    paper_options,
    question_text,
)
from bot.errors import UserFacingError, logged_autocomplete
from bot.jobs import SharedJob
from bot.paged import digest_messages
from bot.rendering.pages import paginate_for_embed
from bot.rendering.text import neutralize_mentions, shorten
from bot.storage.interactions import STATE_ID_PATTERN, InteractionStateRepository
from bot.storage.papers import Paper, PaperRepository
from bot.storage.posts import SummaryPostRepository
from bot.storage.reading import ReadingRepository, ReadingSession, SessionAlreadyOpenError
from bot.storage.summaries import SummaryRepository
from bot.ui import Control, Controls, ControlTimers, selected_values, take_choice
from cogs.community.summaries import NO_MENTIONS, paper_choices, require_guild
from cogs.community.views import paper_menu

log = logging.getLogger(__name__)

COG_NAME = "Reading"
REMINDER_POLL_SECONDS = 60.0
# The card lists at most this many of the summaries a paper already has (best first).
KNOWN_SUMMARIES_SHOWN = 25
REMINDER_LOOP = "reading reminders"
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week
# Which paper a typed title means: the picker, kept as an interaction state.
PICK_KIND = "reading_pick"
PICK_SECONDS = 600.0
PICK_TEMPLATE = rf"ss:readpick:(?P<state>{STATE_ID_PATTERN})"


def reading_picker(state_id: str, options: Sequence[PaperOption]) -> Controls:
    """The papers a typed title may mean, to start the session on one of them."""
    return Controls(paper_menu(f"ss:readpick:{state_id}", options))


class ReadingPickControl(Control, template=PICK_TEMPLATE):
    """The paper picked for `/reading start`, answered by whichever process receives it."""

    async def handle(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
        if cog is None:
            raise UserFacingError("Reading sessions are not available right now; try again soon.")
        await cast(ReadingCog, cog).paper_picked(
            interaction, self.match["state"], selected_values(interaction)[0]
        )


class ReadingCog(commands.Cog, name=COG_NAME):
    reading = app_commands.Group(
        name="reading", description="Reading sessions: a thread per paper with a due date",
        guild_only=True,
    )  # fmt: skip

    def __init__(self, bot: ShortScienceBot, resolver: PaperResolver, titles: TitleFinder) -> None:
        self.bot = bot
        self.resolver = resolver
        self.titles = titles
        self.states = InteractionStateRepository(bot.db)
        self.timers = ControlTimers()
        self.repo = ReadingRepository(bot.db)
        self.papers = PaperRepository(bot.db)
        self.summaries = SummaryRepository(bot.db)
        self.posts = SummaryPostRepository(bot.db)
        # Tests move time forward here to reach the reminder without waiting a day.
        self.clock: Callable[[], float] = time.time
        self.reminders: BackgroundLoop | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReadingPickControl)
        if self.bot.background_tasks:
            # One process of those sharing the database sends a minute's reminders.
            job = SharedJob(
                self.bot.db,
                REMINDER_LOOP,
                self.send_due_reminders,
                owner=self.bot.lease_owner,
                every=REMINDER_POLL_SECONDS,
                lease_seconds=self.bot.settings.lease_seconds,
            )
            self.reminders = self.bot.loops.start(
                BackgroundLoop(
                    REMINDER_LOOP,
                    job.run_once,
                    interval=job.tick_seconds,
                    description="reminds reading sessions a day before they are due",
                    before_first_run=self.bot.wait_until_ready,
                )
            )

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReadingPickControl)
        self.timers.close()
        if self.reminders is not None:
            await self.bot.loops.stop(self.reminders)
            self.reminders = None

    # --- commands -----------------------------------------------------------------------------

    @reading.command(name="start", description="Open a thread to read a paper together")
    @app_commands.describe(
        paper="arXiv id or link, DOI, ShortScience link or bibtex key, or the paper's title",
        due="When summaries are due: 2025-05-01, 2025-05-01 18:00 (UTC), or 3d, 12h, 1w",
        channel="Where to open the thread (default: this channel)",
        role="A role to mention in the session's card and its reminder (no one else is pinged)",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        paper: str,
        due: str | None = None,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
    ) -> None:
        guild_id = require_guild(interaction)
        if role is not None and role.is_default():
            raise UserFacingError("Pick a role to mention; I never mention @everyone.")
        role_id = None if role is None else role.id
        now = self.clock()
        due_at = parse_due(due, now) if due else None
        target = channel or interaction.channel
        if isinstance(target, discord.Thread):
            target = target.parent
        if not isinstance(target, discord.TextChannel):
            raise UserFacingError("Reading sessions open a thread in a text channel: pick one.")
        await interaction.response.defer(thinking=True)
        resolved = await self.resolver.resolve_typed(paper, self.titles, guild_id=guild_id)
        if isinstance(resolved, TitleCandidates):
            await self._ask_which_paper(
                interaction, resolved, channel_id=target.id, due_at=due_at, role_id=role_id
            )
            return
        await self._open(interaction, resolved, target=target, due_at=due_at, role_id=role_id)

    async def _ask_which_paper(
        self,
        interaction: discord.Interaction,
        candidates: TitleCandidates,
        *,
        channel_id: int,
        due_at: float | None,
        role_id: int | None,
    ) -> None:
        """A title no paper known here has exactly: the papers it may mean, in the command's
        reply; the session's options wait (in the database) for the pick."""
        options = paper_options(candidates, READING_WORDING)
        state = await self.states.create(
            PICK_KIND,
            owner_id=interaction.user.id,
            guild_id=require_guild(interaction),
            payload={
                "title": candidates.title,
                "offered": [option.value for option in options],
                "channel_id": channel_id,
                "due_at": due_at,
                "role_id": role_id,
            },
            now=time.time(),
            lifetime=PICK_SECONDS,
        )
        message = await interaction.edit_original_response(
            content=question_text(candidates, READING_WORDING),
            view=reading_picker(state.id, options),
            allowed_mentions=NO_MENTIONS,
        )
        self.timers.arm(
            message.id,
            PICK_SECONDS,
            lambda: message.edit(
                content="This choice expired: run `/reading start` again.", view=None
            ),
        )

    async def paper_picked(
        self, interaction: discord.Interaction, state_id: str, choice: str
    ) -> None:
        """The paper picked for a typed title: the session starts on it, in the reply."""
        state = await take_choice(
            interaction,
            self.states,
            state_id,
            kind=PICK_KIND,
            command="`/reading start`",
            taken="A paper was already chosen from this list.",
            offered=lambda state: choice in state.payload["offered"],
        )
        if state is None:
            return
        if interaction.message is not None:
            self.timers.disarm(interaction.message.id)
        await interaction.response.edit_message(content="Starting the reading session…", view=None)
        payload = state.payload
        target = interaction.guild.get_channel(payload["channel_id"]) if interaction.guild else None
        try:
            if not isinstance(target, discord.TextChannel):
                raise UserFacingError(
                    "The channel for this session is gone: run `/reading start` again."
                )
            resolved = await self.resolver.resolve_choice(
                choice, title=payload["title"], guild_id=require_guild(interaction)
            )
            await self._open(
                interaction,
                resolved,
                target=target,
                due_at=payload["due_at"],
                role_id=payload["role_id"],
            )
        except UserFacingError as exc:
            # The reply says why, in place of "Starting…".
            await interaction.edit_original_response(content=exc.message)
        except Exception:
            # Not left saying "Starting…"; the central handler reports the error itself.
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(
                    content="The session could not be started: run `/reading start` again."
                )
            raise

    async def _open(
        self,
        interaction: discord.Interaction,
        resolved: ResolvedPaper,
        *,
        target: discord.TextChannel,
        due_at: float | None,
        role_id: int | None,
    ) -> None:
        """Open the session's thread on the paper and say so in the interaction's reply
        (deferred or acknowledged already)."""
        guild_id = require_guild(interaction)
        now = self.clock()
        existing = None
        if resolved.is_stored:
            existing = await self.repo.open_for_paper(guild_id, resolved.paper.id)
        if existing is not None:
            raise UserFacingError(
                f"This paper already has an open reading session: <#{existing.thread_id}>."
            )
        thread = await target.create_thread(
            name=thread_name(resolved.paper),
            type=discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            reason=f"Reading session started by {interaction.user}",
        )
        try:
            session = await start_session(
                self.bot.db,
                self.resolver,
                resolved,
                guild_id=guild_id,
                channel_id=target.id,
                thread_id=thread.id,
                started_by=interaction.user.id,
                started_at=now,
                due_at=due_at,
                mention_role_id=role_id,
            )
        except SessionAlreadyOpenError as exc:
            # Someone else started one at the same moment: theirs stands.
            with contextlib.suppress(discord.HTTPException):
                await thread.delete()
            theirs = None if exc.session_id is None else await self.repo.get(exc.session_id)
            raise UserFacingError(
                "This paper already has an open reading session."
                + (f" See <#{theirs.thread_id}>." if theirs is not None else "")
            ) from exc
        card = await thread.send(
            content=card_content(resolved.paper, due_at=due_at, role_id=role_id),
            embed=session_card(
                resolved.paper,
                due_at=due_at,
                started_by=interaction.user.id,
                pending=resolved.pending,
                known=await self.known_summaries(resolved.paper.id, guild_id),
            ),
            allowed_mentions=role_mentions(role_id),
        )
        await self.repo.set_card_message(session.id, card.id)
        try:
            await card.pin(reason="Reading session card")
        except discord.HTTPException:
            log.warning("Could not pin the card of reading session %d", session.id, exc_info=True)
        when = f" Summaries are due <t:{int(due_at)}:R>." if due_at else ""
        title = neutralize_mentions(shorten(resolved.display_title, 200))
        await interaction.edit_original_response(
            content=f"📖 Reading session on **{discord.utils.escape_markdown(title)}** "
            f"started in {thread.mention}.{when}",
            allowed_mentions=NO_MENTIONS,
        )

    @reading.command(
        name="status", description="Who has submitted in this session (or all open ones)"
    )
    async def status(self, interaction: discord.Interaction) -> None:
        guild_id = require_guild(interaction)
        session = await self.repo.by_thread(interaction.channel_id or 0)
        if session is not None and session.guild_id == guild_id:
            paper = await self._paper(session)
            submissions = await self.repo.submissions(session.id)
            lines = status_lines(session, submissions)
            if session.closed_at is not None:
                lines.insert(0, f"This session was closed <t:{int(session.closed_at)}:R>.")
            embed = discord.Embed(
                title=shorten(neutralize_mentions(paper.title or paper.canonical_key), 256),
                description="\n".join(lines)[:4096],
                colour=0x805AD5,
            )
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        sessions = await self.repo.open_in_guild(guild_id)
        if not sessions:
            await interaction.response.send_message(
                "No reading session is open here. Start one with `/reading start`.",
                ephemeral=True,
            )
            return
        lines = []
        for open_session in sessions:
            paper = await self._paper(open_session)
            count = len(await self.repo.submissions(open_session.id))
            due = f"due <t:{int(open_session.due_at)}:R>" if open_session.due_at else "no due date"
            title = discord.utils.escape_markdown(
                neutralize_mentions(shorten(paper.title or paper.canonical_key, 120))
            )
            lines.append(f"<#{open_session.thread_id}> **{title}** · {due} · {count} submitted")
        page = paginate_for_embed(
            "\n".join(lines), title=f"Open reading sessions ({len(sessions)})"
        )[0]
        embed = discord.Embed(title=page.title, description=page.description, colour=0x805AD5)
        if page.pages > 1:
            embed.set_footer(text=f"Showing the first of {page.pages} pages")
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @reading.command(name="close", description="Post the digest of this session and archive it")
    async def close(self, interaction: discord.Interaction) -> None:
        guild_id = require_guild(interaction)
        session = await self.repo.by_thread(interaction.channel_id or 0)
        if session is None or session.guild_id != guild_id:
            raise UserFacingError("Run `/reading close` in the reading session's thread.")
        if session.closed_at is not None:
            raise UserFacingError("This reading session is already closed.")
        permissions = interaction.permissions
        if interaction.user.id != session.started_by and not (
            permissions.manage_threads or permissions.manage_messages
        ):
            raise UserFacingError(
                "Only whoever started the session, or members with Manage Threads, can close it."
            )
        await interaction.response.defer(thinking=True)
        if not await self.repo.close(session.id, closed_by=interaction.user.id, now=self.clock()):
            raise UserFacingError("This reading session is already closed.")
        paper = await self._paper(session)
        submissions = await self.repo.submissions(session.id)
        digest = await digest_messages(paper, submissions, self.bot.typesetter)
        page = await digest.page(0)
        first = await interaction.edit_original_response(
            content="📚 The reading session is closed. Here is what everyone wrote:",
            embed=page.embed,
            attachments=page.files,
            allowed_mentions=NO_MENTIONS,
        )
        await self.repo.set_digest_message(session.id, first.id)
        for index in range(1, digest.count):
            page = await digest.page(index)
            await interaction.followup.send(
                embed=page.embed, files=page.files, allowed_mentions=NO_MENTIONS
            )
        thread = interaction.channel
        if isinstance(thread, discord.Thread):
            try:
                await thread.edit(archived=True, reason="Reading session closed")
            except discord.HTTPException:
                log.warning("Could not archive the thread of session %d", session.id, exc_info=True)

    @start.autocomplete("paper")
    @logged_autocomplete
    async def _paper_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await paper_choices(self.bot, current, interaction.guild_id)

    # --- reminders ----------------------------------------------------------------------------

    async def send_due_reminders(self) -> int:
        """Post the one reminder of every session due within a day. Returns how many.

        The message carries a nonce derived from the session (Discord returns the earlier
        message for a repeated nonce), and the session is marked only after Discord accepted
        it: a crash in between sends the same reminder, not a second one.
        """
        now = self.clock()
        sent = 0
        for session in await self.repo.due_reminders(now):
            thread = await self._thread(session)
            if thread is None:
                log.warning("Thread of reading session %d is gone; no reminder", session.id)
                await self.repo.mark_reminded(session.id, message_id=None, now=now)
                continue
            paper = await self._paper(session)
            submissions = await self.repo.submissions(session.id)
            try:
                message = await thread.send(
                    reminder_text(session, paper, submissions),
                    nonce=f"ssrem{session.id}"[:25],
                    allowed_mentions=role_mentions(session.mention_role_id),
                )
            except (discord.NotFound, discord.Forbidden):
                log.warning("Cannot post in the thread of session %d; no reminder", session.id)
                await self.repo.mark_reminded(session.id, message_id=None, now=now)
                continue
            await self.repo.mark_reminded(session.id, message_id=message.id, now=now)
            sent += 1
        return sent

    async def known_summaries(self, paper_id: int, guild_id: int) -> list[KnownSummary]:
        """The summaries of the paper visible here, best first, with where each was posted
        in this server (when it was)."""
        summaries = (await self.summaries.list_for_paper(paper_id, guild_id=guild_id))[
            :KNOWN_SUMMARIES_SHOWN
        ]
        posted = await self.posts.latest_in_guild([s.id for s in summaries], guild_id)
        return [
            KnownSummary(
                summary_id=summary.id,
                author_name=summary.author_name,
                score=summary.score,
                message_url=posted[summary.id].jump_url if summary.id in posted else None,
                page_url=summary.url,
            )
            for summary in summaries
        ]

    async def _thread(self, session: ReadingSession) -> discord.Thread | None:
        channel = self.bot.get_channel(session.thread_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(session.thread_id)
            except (discord.NotFound, discord.Forbidden):
                return None
        return channel if isinstance(channel, discord.Thread) else None

    async def _paper(self, session: ReadingSession) -> Paper:
        paper = await self.papers.get(session.paper_id)
        assert paper is not None  # sessions reference papers by foreign key
        return paper
