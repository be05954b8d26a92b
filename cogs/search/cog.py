"""Finding and reading summaries: `/search`, `/paper`, `/similar`, `/summary view`, `/latest`,
`/top`, `/random`.

Visibility is the storage layer's rule, applied to every read here with the viewer's guild:
feed summaries everywhere, community summaries only in their own guild, deleted ones never.

`/summary` is one command group shared with the community cog (`/summary edit`, `delete`,
`restore`): whichever cog loads first creates the group on the tree, the other adds its
subcommands to it (`bot.community.summary_group`), so the extensions load in any order.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import TimestampStyle

from bot.bot import ShortScienceBot
from bot.community.summary_group import add_summary_subcommands, remove_summary_subcommands
from bot.errors import UserFacingError, logged_autocomplete
from bot.paged import MathMode, PagedMessages, PageMessage, summary_messages
from bot.papers import NotAPaperId, parse_paper_id
from bot.presenters import (
    EXCERPT_CHARS,
    ListedSummary,
    inline_text,
    listed_from_summary,
    paper_card,
    plain_text,
    summary_filename,
    summary_markdown,
)
from bot.search import SimilarPaper, TitleSuggestion
from bot.search.query import MAX_PHRASES
from bot.storage.interactions import InteractionState, InteractionStateRepository
from bot.storage.lookups import sources_pending
from bot.storage.papers import Paper, PaperRepository
from bot.storage.state import BotStateRepository
from bot.storage.summaries import Summary, SummaryRepository
from bot.ui import (
    NOT_YOURS,
    QUICK_WRITE,
    Controls,
    ControlTimers,
    message_owner_id,
    reply,
    selected_values,
    update_message,
    within_deadline,
)
from cogs.search.views import (
    CONTROLS,
    PAGE_SIZE,
    SEARCH_COG_NAME,
    PaperAction,
    ResultPage,
    paper_controls,
    results_controls,
    results_page_embed,
    similar_controls,
    similar_embed,
    summary_controls,
)

log = logging.getLogger(__name__)

# The controls of a summary, a list or a card go after this long without use.
DEFAULT_VIEW_TIMEOUT: Final = 600.0
# A result list's state (its query) lives this long after its last use.
RESULTS_KIND: Final = "results"
# Answers slower than this are deferred first: Discord allows 3 s for the first response.
SLOW_REPLY_SECONDS: Final = 1.5
AUTOCOMPLETE_LIMIT: Final = 25
CHOICE_LIMIT: Final = 100  # Discord: a choice's name and string value hold 100 characters
MAX_QUERY_LENGTH: Final = 1000
MAX_FILTER_LENGTH: Final = 200
MAX_ID_LENGTH: Final = 2000
MAX_SUMMARY_ID: Final = 2**53 - 1  # Discord's largest integer option
MAX_EXCERPT_LENGTH: Final = 400
TOP_COUNT: Final = 10
# Autocomplete answers with this value; `/paper` reads it back as the paper's row id.
_PAPER_CHOICE: Final = re.compile(r"paper:(\d{1,18})")

Origin = Literal["feeds", "community", "all"]
Period = Literal["week", "month", "year", "all"]
PERIOD_DAYS: Final[dict[str, int | None]] = {"week": 7, "month": 30, "year": 365, "all": None}

# What an empty library says instead of "no results": how it gets filled.
EMPTY_LIBRARY: Final = (
    "The library is empty: there are no summaries to read here yet. A server admin can "
    "subscribe a channel to a feed with `/feed add url:https://www.shortscience.org/rss.xml` "
    "(its entries become readable at once), and whoever runs the bot can import one with "
    "`shortscience-bot import https://www.shortscience.org/rss.xml`. Members can write their "
    "own with `/summarize`."
)
SEEDING: Final = (
    "The library is being filled for the first time (summaries are being imported from "
    "ShortScience): try again in a minute."
)

NO_RESULTS_HINT: Final = (
    "Try fewer or more general words, check the spelling, drop the author, year or venue "
    'filters, or search every origin. Put "exact phrases" in quotes.'
)


def title_choice_value(title: str) -> str:
    """A title as a search query that fits a choice value: whole words, at most 100 chars."""
    flat = " ".join(title.split())
    if len(flat) <= CHOICE_LIMIT:
        return flat
    cut = flat[:CHOICE_LIMIT]
    space = cut.rfind(" ")
    return cut[:space] if space > CHOICE_LIMIT // 2 else cut


class SearchCog(commands.Cog, name=SEARCH_COG_NAME):
    """Search, papers and reading summaries."""

    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        self.papers = PaperRepository(bot.db)
        self.summaries = SummaryRepository(bot.db)
        self.states = InteractionStateRepository(bot.db)
        self.timers = ControlTimers()
        self.clock: Callable[[], float] = time.time
        # Tests shorten these to see the controls go, and a slow answer being deferred.
        self.view_timeout: float = DEFAULT_VIEW_TIMEOUT
        self.slow_reply_seconds: float = SLOW_REPLY_SECONDS

    async def cog_load(self) -> None:
        # `/summary view` lives in the shared group, not at the top level of the tree.
        view_command = self.summary_view
        self.__cog_app_commands__ = [c for c in self.__cog_app_commands__ if c is not view_command]
        add_summary_subcommands(self.bot.tree, view_command)
        # Every control this cog sends, answered from its custom_id whichever process sent it
        # (Read and Latest under announcements too).
        self.bot.add_dynamic_items(*CONTROLS)

    async def cog_unload(self) -> None:
        remove_summary_subcommands(self.bot.tree, self.summary_view.name)
        self.bot.remove_dynamic_items(*CONTROLS)
        self.timers.close()

    # -- shared helpers ----------------------------------------------------------------------

    async def visible_summary(self, summary_id: int, guild_id: int | None) -> Summary:
        summary = await self.summaries.get(summary_id, guild_id=guild_id)
        if summary is None:
            raise UserFacingError(
                f"There is no summary #{summary_id} here. Ids are the numbers shown as "
                "`#123` in `/search`, `/latest` and `/paper`."
            )
        return summary

    async def empty_library(self, guild_id: int | None) -> UserFacingError | None:
        """When the viewer can see no summary at all: the error saying how the library gets
        filled (or that its first import is under way). None when there is something."""
        if await self.summaries.has_visible(guild_id=guild_id):
            return None
        if await BotStateRepository(self.bot.db).seed_status() == "pending":
            return UserFacingError(SEEDING)
        return UserFacingError(EMPTY_LIBRARY)

    async def visible_paper(self, paper_id: int, guild_id: int | None) -> Paper:
        """A paper picked from a card or a list, if this server may see it (the id comes
        from a custom_id or a menu value: checked like a typed one)."""
        paper = await self.papers.get_visible(paper_id, guild_id=guild_id)
        if paper is None:
            raise UserFacingError("That paper is no longer known here.")
        return paper

    async def render_pages(self, summary: Summary, *, math: MathMode = "image") -> PagedMessages:
        # Rendering runs in a thread and typesetting in worker processes: off the event loop.
        return await summary_messages(
            summary,
            self.bot.typesetter,
            math=math,
            page_chars=self.bot.settings.summary_page_chars,
        )

    async def listed(
        self, summaries: Sequence[Summary], *, when_style: TimestampStyle = "d"
    ) -> list[ListedSummary]:
        return await asyncio.to_thread(
            lambda: [listed_from_summary(s, when_style=when_style) for s in summaries]
        )

    def keep_controls(self, message_id: int, controls: Controls, edit: Callable[..., Any]) -> None:
        """The interactive controls go after `view_timeout` without use; links stay."""
        links = controls.links_only()
        self.timers.arm(message_id, self.view_timeout, lambda: edit(view=links))

    async def send_listing(
        self,
        interaction: discord.Interaction,
        *,
        title: str,
        summaries: list[Summary],
        when_style: TimestampStyle = "d",
        command: str,
        ephemeral: bool = False,
    ) -> None:
        """A list of summaries already found (latest, top), PAGE_SIZE a page."""
        payload = {
            "source": "ids",
            "ids": [summary.id for summary in summaries],
            "when": when_style,
            "title": title,
            "prefix": "",
            "command": command,
        }
        first = ResultPage(
            items=await self.listed(summaries[:PAGE_SIZE], when_style=when_style),
            offset=0,
            total=len(summaries),
            has_more=len(summaries) > PAGE_SIZE,
        )
        await self.send_results(interaction, payload, first, ephemeral=ephemeral)

    async def send_results(
        self,
        interaction: discord.Interaction,
        payload: dict[str, Any],
        first: ResultPage,
        *,
        ephemeral: bool = False,
    ) -> None:
        """A result list's first page; its query (or ids) kept as a state for the pages
        that follow, whichever process shows them."""
        state = await within_deadline(
            interaction,
            self.states.create(
                RESULTS_KIND,
                owner_id=interaction.user.id,
                guild_id=interaction.guild_id,
                payload=payload,
                now=self.clock(),
                lifetime=self.view_timeout,
            ),
            patience=QUICK_WRITE,
            ephemeral=ephemeral,
        )
        controls = results_controls(state.id, first)
        message = await reply(
            interaction,
            embed=results_page_embed(
                first, title=payload["title"], description_prefix=payload["prefix"]
            ),
            view=controls,
            ephemeral=ephemeral,
        )
        self.keep_controls(message.id, controls, message.edit)

    async def results_page(
        self, state: InteractionState, offset: int, guild_id: int | None
    ) -> ResultPage:
        """The page at `offset` of a stored result list, as the viewer's server sees it."""
        payload = state.payload
        if payload["source"] == "search":
            return await self.search_page(
                payload["query"],
                guild_id=guild_id,
                author=payload["author"],
                year=payload["year"],
                venue=payload["venue"],
                origin=payload["origin"],
                offset=offset,
                limit=PAGE_SIZE,
            )
        ids: list[int] = payload["ids"]
        found = await self.summaries.get_many(ids[offset : offset + PAGE_SIZE], guild_id=guild_id)
        return ResultPage(
            items=await self.listed(found, when_style=payload["when"]),
            offset=offset,
            total=len(ids),
            has_more=offset + PAGE_SIZE < len(ids),
        )

    async def turn_results(
        self, interaction: discord.Interaction, state_id: str, offset: int
    ) -> None:
        """Prev/Next on a result list: the page at `offset`, in the message for its owner,
        else in a private copy (with controls of their own, on the same state)."""
        now = self.clock()
        state = await self.states.get(state_id)
        if state is None or state.kind != RESULTS_KIND or state.expired(now):
            await self.results_expired(interaction, state)
            return
        owner = message_owner_id(interaction) == interaction.user.id
        page = await within_deadline(
            interaction,
            self.results_page(state, max(0, offset), interaction.guild_id),
            patience=self.slow_reply_seconds,
            update=owner,
            ephemeral=not owner,
        )
        if not page.items:
            # The list shrank since it was shown (summaries deleted): stay where we are.
            raise UserFacingError("There are no more results.")
        embed = results_page_embed(
            page, title=state.payload["title"], description_prefix=state.payload["prefix"]
        )
        controls = results_controls(state_id, page)
        if not owner:
            message = await reply(interaction, embed=embed, view=controls, ephemeral=True)
            self.keep_controls(message.id, controls, message.edit)
        else:
            await update_message(interaction, embed=embed, view=controls)
            self.keep_message_controls(interaction, controls)
        await self.states.touch(state_id, expires_at=self.clock() + self.view_timeout)

    def keep_message_controls(self, interaction: discord.Interaction, controls: Controls) -> None:
        """`keep_controls` for the message a component belongs to (just updated)."""
        assert interaction.message is not None
        self.keep_controls(interaction.message.id, controls, interaction.edit_original_response)

    async def results_expired(
        self, interaction: discord.Interaction, state: InteractionState | None
    ) -> None:
        """A list whose state expired (the process that would have removed its controls
        stopped meanwhile): the controls go now, and the clicker is told what to do."""
        command = "the command" if state is None else f"`{state.payload.get('command')}`"
        await interaction.response.edit_message(view=None)
        await interaction.followup.send(
            f"These results expired: run {command} again for a fresh list.", ephemeral=True
        )

    async def open_summary(self, interaction: discord.Interaction, summary_id: int) -> None:
        """A summary picked from a list or a card: in public for the message's owner, else
        ephemerally."""
        summary = await self.visible_summary(summary_id, interaction.guild_id)
        owner = message_owner_id(interaction) == interaction.user.id
        await self.send_summary(interaction, summary, ephemeral=not owner)

    # -- a summary, page by page -------------------------------------------------------------

    async def summary_page(
        self, summary: Summary, page: int, math: MathMode
    ) -> tuple[PagedMessages, int, PageMessage]:
        """The summary's pages, the page shown (`page` kept within them) and its message."""
        pages = await self.render_pages(summary, math=math)
        index = max(0, min(page, pages.count - 1))
        return pages, index, await pages.page(index)

    async def send_summary(
        self,
        interaction: discord.Interaction,
        summary: Summary,
        *,
        ephemeral: bool = False,
        math: MathMode = "image",
        page: int = 0,
    ) -> None:
        """Answer `interaction` with the summary's page (and its equation card) and its
        controls."""
        pages, index, shown = await within_deadline(
            interaction,
            self.summary_page(summary, page, math),
            patience=self.slow_reply_seconds,
            ephemeral=ephemeral,
        )
        controls = summary_controls(summary, page=index, pages=pages.count, math=math)
        message = await reply(
            interaction, embed=shown.embed, view=controls, ephemeral=ephemeral, files=shown.files
        )
        self.keep_controls(message.id, controls, message.edit)

    async def turn_summary(
        self, interaction: discord.Interaction, summary_id: int, page: int, math: MathMode
    ) -> None:
        """Prev/Next under a summary: the page in this message for whom it was made, else a
        private copy at that page (which the clicker then pages).

        Turning the page replaces the message's equation card with the new page's (or
        none), so the message never collects the cards of earlier pages."""
        summary = await self.visible_summary(summary_id, interaction.guild_id)
        if message_owner_id(interaction) != interaction.user.id:
            await self.send_summary(interaction, summary, ephemeral=True, math=math, page=page)
            return
        pages, index, shown = await within_deadline(
            interaction,
            self.summary_page(summary, page, math),
            patience=self.slow_reply_seconds,
            update=True,
        )
        controls = summary_controls(summary, page=index, pages=pages.count, math=math)
        await update_message(
            interaction,
            embed=shown.embed,
            view=controls,
            attachments=shown.files if pages.has_cards else None,
        )
        self.keep_message_controls(interaction, controls)

    async def download_summary(self, interaction: discord.Interaction, summary_id: int) -> None:
        # The stored text as it is now (it may have been edited, or deleted, since).
        summary = await self.visible_summary(summary_id, interaction.guild_id)
        data = summary_markdown(summary).encode("utf-8")
        await interaction.response.send_message(
            f"The Markdown of summary #{summary.id}.",
            file=discord.File(io.BytesIO(data), filename=summary_filename(summary)),
            ephemeral=True,
        )

    async def paper_choices(
        self, current: str, guild_id: int | None
    ) -> list[app_commands.Choice[str]]:
        """Up to 25 papers: the one a pasted id names, then titles starting with (or having a
        word starting with) what was typed; recent papers when nothing was typed."""
        text = current.strip()[:MAX_ID_LENGTH]
        found: dict[int, str] = {}
        parsed = parse_paper_id(text) if text else None
        if parsed is not None and not isinstance(parsed, NotAPaperId):
            pasted = await self.papers.find_visible_by_ids(parsed.equivalent_ids, guild_id=guild_id)
            for paper in pasted:
                found.setdefault(paper.id, paper.title or parsed.display)
        for suggestion in await self.title_suggestions(text, guild_id):
            found.setdefault(suggestion.paper_id, suggestion.title)
        return [
            app_commands.Choice(name=plain_text(title, CHOICE_LIMIT), value=f"paper:{paper_id}")
            for paper_id, title in list(found.items())[:AUTOCOMPLETE_LIMIT]
            if title.strip()
        ]

    async def resolve_paper(self, text: str, guild_id: int | None) -> Paper:
        """The paper `text` names, among those this guild may see (papers known only from
        another server's summaries are never shown here): an autocomplete pick, any
        identifier, or a unique title."""
        text = text.strip()
        picked = _PAPER_CHOICE.fullmatch(text)
        if picked is not None:
            paper = await self.papers.get_visible(int(picked.group(1)), guild_id=guild_id)
            if paper is None:
                # Missing and another server's are the same answer: ids cannot be probed.
                raise UserFacingError("That paper is no longer known here.")
            return paper
        parsed = parse_paper_id(text)
        if not isinstance(parsed, NotAPaperId):
            found = await self.papers.find_visible_by_ids(parsed.equivalent_ids, guild_id=guild_id)
            if not found:
                raise UserFacingError(
                    f"I don't know the paper {inline_text(parsed.display, 300)} yet: nobody "
                    "has summarised it here. Check the id, or search with `/search`."
                )
            return found[0]
        # A title typed without picking a suggestion: only papers with a summary visible
        # here, as in the suggestions.
        candidates = await self.title_suggestions(text, guild_id, limit=2)
        wanted = " ".join(text.split()).casefold()
        exact = [c for c in candidates if " ".join(c.title.split()).casefold() == wanted]
        chosen = exact[0] if len(exact) == 1 else candidates[0] if len(candidates) == 1 else None
        if chosen is not None:
            paper = await self.papers.get_visible(chosen.paper_id, guild_id=guild_id)
            if paper is not None:
                return paper
        # The database has the last word: the index may lag, or be being rebuilt.
        paper = await self.papers.find_visible_by_title(" ".join(text.split()), guild_id=guild_id)
        if paper is not None:
            return paper
        self.bot.search.raise_if_rebuilding()  # rather than "not found" from an empty index
        # One sentence: what was not found, and what to give instead.
        raise UserFacingError(
            f"I found no paper matching “{inline_text(text, 100)}”: give an arXiv id or link "
            "(such as `1502.03167`), a DOI, a ShortScience link or bibtex key, or start typing "
            "a title and pick a suggestion."
        )

    async def title_suggestions(
        self, text: str, guild_id: int | None, *, limit: int = AUTOCOMPLETE_LIMIT
    ) -> list[TitleSuggestion]:
        return await self.bot.search.autocomplete(text, guild_id=guild_id, limit=limit)

    async def similar_to(self, paper: Paper, guild_id: int | None) -> list[SimilarPaper]:
        return await self.bot.search.similar(paper.id, guild_id=guild_id)

    async def send_similar(
        self, interaction: discord.Interaction, paper: Paper, *, owner_id: int | None
    ) -> None:
        """The papers most like `paper`: in public for `owner_id`, else ephemerally."""
        similar = await within_deadline(
            interaction,
            self.similar_to(paper, interaction.guild_id),
            patience=self.slow_reply_seconds,
        )
        if not similar:
            raise UserFacingError(
                "I found no similar papers with summaries here yet: similarity comes from "
                "summaries and abstracts, so it grows as more papers are summarised."
            )
        controls = similar_controls(paper, similar)
        message = await reply(
            interaction,
            embed=similar_embed(paper, similar),
            view=controls,
            ephemeral=interaction.user.id != owner_id,
        )
        self.keep_controls(message.id, controls, message.edit)

    async def open_paper(self, interaction: discord.Interaction, paper_id: int) -> None:
        """A paper picked among similar ones: its card, in public for the list's owner."""
        paper = await self.visible_paper(paper_id, interaction.guild_id)
        owner = message_owner_id(interaction) == interaction.user.id
        await self.send_paper(interaction, paper, ephemeral=not owner)

    async def search_page(
        self,
        query: str,
        *,
        guild_id: int | None,
        author: str | None,
        year: int | None,
        venue: str | None,
        origin: Origin,
        offset: int,
        limit: int,
    ) -> ResultPage:
        page = await self.bot.search.search(
            query,
            guild_id=guild_id,
            author=author,
            year=year,
            venue=venue,
            origin=origin,
            offset=offset,
            limit=limit,
        )
        items = [
            ListedSummary(
                summary_id=hit.summary_id,
                title=hit.paper_title,
                author=hit.author,
                score=hit.score,
                url=hit.url,
                # The engine's excerpt is already one escaped line with matches in bold.
                excerpt=hit.excerpt
                if len(hit.excerpt) <= MAX_EXCERPT_LENGTH
                else inline_text(hit.excerpt_text, EXCERPT_CHARS),
                origin=hit.origin,
                kind=hit.kind,
            )
            for hit in page.results
        ]
        return ResultPage(
            items=items,
            offset=offset,
            total=None,
            has_more=page.has_more,
            nothing_to_search=page.nothing_to_search,
            corrected=page.corrected,
            cut_to=page.query if page.cut else None,
        )

    # -- /search -----------------------------------------------------------------------------

    @app_commands.command(name="search", description="Search paper summaries")
    @app_commands.describe(
        query='Words to look for; "quoted phrases" match exactly',
        author="Only summaries by this author, or of papers by this author",
        year="Only papers from this year",
        venue="Only papers from this venue (conference or journal)",
        origin="Summaries from feeds, from this server's members, or both (default)",
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, MAX_QUERY_LENGTH],
        author: app_commands.Range[str, 1, MAX_FILTER_LENGTH] | None = None,
        year: app_commands.Range[int, 1900, 2100] | None = None,
        venue: app_commands.Range[str, 1, MAX_FILTER_LENGTH] | None = None,
        origin: Origin = "all",
    ) -> None:
        guild_id = interaction.guild_id
        first = await within_deadline(
            interaction,
            self.search_page(
                query,
                guild_id=guild_id,
                author=author,
                year=year,
                venue=venue,
                origin=origin,
                offset=0,
                limit=PAGE_SIZE,
            ),
            patience=self.slow_reply_seconds,
        )
        shown_query = inline_text(query, 200)
        filters = _describe_filters(author, year, venue, origin)
        if first.nothing_to_search:
            await reply(
                interaction,
                content=f"**{shown_query}** has no words to search for. Type a few words from "
                'a paper\'s title or a summary; "quoted phrases" match exactly.',
                ephemeral=True,
            )
            return
        if not first.items:
            if (empty := await self.empty_library(guild_id)) is not None:
                raise empty
            await reply(
                interaction,
                content=f"No summaries match **{shown_query}**{_filters_suffix(filters)}. "
                + NO_RESULTS_HINT,
                ephemeral=True,
            )
            return
        notes = []
        if first.corrected is not None:
            # The pages that follow keep showing the corrected search.
            notes.append(
                f"No summaries match **{shown_query}**: showing results for "
                f"*{inline_text(first.corrected, 200)}*."
            )
        elif first.cut_to is not None:
            notes.append(
                f"Only the first {MAX_PHRASES} words were searched for: "
                f"*{inline_text(first.cut_to, 300)}*."
            )
        if filters:
            notes.append(f"Filters: {filters}")
        searched = first.corrected or query
        payload = {
            "source": "search",
            "query": searched,
            "author": author,
            "year": year,
            "venue": venue,
            "origin": origin,
            "title": f"Search: {' '.join(searched.split())}",
            "prefix": "\n".join(notes),
            "command": "/search",
        }
        await self.send_results(interaction, payload, first)

    @search.autocomplete("query")
    @logged_autocomplete
    async def search_query_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        suggestions = await self.title_suggestions(current.strip(), interaction.guild_id)
        choices: list[app_commands.Choice[str]] = []
        seen: set[str] = set()
        for suggestion in suggestions:
            value = title_choice_value(suggestion.title)
            if value and value not in seen:
                seen.add(value)
                choices.append(
                    app_commands.Choice(
                        name=plain_text(suggestion.title, CHOICE_LIMIT), value=value
                    )
                )
        return choices[:AUTOCOMPLETE_LIMIT]

    # -- /paper ------------------------------------------------------------------------------

    @app_commands.command(name="paper", description="A paper: abstract, links and its summaries")
    @app_commands.rename(identifier="id")
    @app_commands.describe(
        identifier="arXiv id or link, DOI, ShortScience link or bibtex key; or type a title"
    )
    async def paper(
        self,
        interaction: discord.Interaction,
        identifier: app_commands.Range[str, 1, MAX_ID_LENGTH],
    ) -> None:
        paper = await self.resolve_paper(identifier, interaction.guild_id)
        await self.send_paper(interaction, paper)

    async def send_paper(
        self, interaction: discord.Interaction, paper: Paper, *, ephemeral: bool = False
    ) -> None:
        """The paper's card with its summaries visible here, and its controls."""
        summaries = await self.summaries.list_for_paper(paper.id, guild_id=interaction.guild_id)
        fetching = await sources_pending(self.bot.db, paper.id)
        controls = paper_controls(paper, summaries, expanded=False)
        message = await reply(
            interaction,
            embed=paper_card(paper, summaries, fetching=fetching),
            view=controls,
            ephemeral=ephemeral,
        )
        self.keep_controls(message.id, controls, message.edit)

    async def paper_action(
        self, interaction: discord.Interaction, paper_id: int, action: PaperAction
    ) -> None:
        """More/Less (for whom the card was made), a summary from its menu or Similar (for
        anyone: publicly for the card's owner, privately for anyone else)."""
        paper = await self.visible_paper(paper_id, interaction.guild_id)
        owner_id = message_owner_id(interaction)
        if action == "open":
            await self.open_summary(interaction, int(selected_values(interaction)[0]))
        elif action == "similar":
            await self.send_similar(interaction, paper, owner_id=owner_id)
        elif owner_id != interaction.user.id:
            await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        else:
            expanded = action == "more"
            summaries = await self.summaries.list_for_paper(paper.id, guild_id=interaction.guild_id)
            fetching = await sources_pending(self.bot.db, paper.id)
            controls = paper_controls(paper, summaries, expanded=expanded)
            await interaction.response.edit_message(
                embed=paper_card(paper, summaries, expanded=expanded, fetching=fetching),
                view=controls,
            )
            self.keep_message_controls(interaction, controls)

    @paper.autocomplete("identifier")
    @logged_autocomplete
    async def paper_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.paper_choices(current, interaction.guild_id)

    # -- /similar ----------------------------------------------------------------------------

    @app_commands.command(
        name="similar", description="Papers like this one, by their summaries and abstracts"
    )
    @app_commands.describe(
        paper="arXiv id or link, DOI, ShortScience link or bibtex key; or type a title"
    )
    async def similar(
        self,
        interaction: discord.Interaction,
        paper: app_commands.Range[str, 1, MAX_ID_LENGTH],
    ) -> None:
        found = await self.resolve_paper(paper, interaction.guild_id)
        await self.send_similar(interaction, found, owner_id=interaction.user.id)

    @similar.autocomplete("paper")
    @logged_autocomplete
    async def similar_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.paper_choices(current, interaction.guild_id)

    # -- /summary view -----------------------------------------------------------------------

    @app_commands.command(name="view", description="Read a whole summary, page by page")
    @app_commands.rename(summary_id="id")
    @app_commands.describe(
        summary_id="The summary's number, as shown by /search or /paper",
        math="Display equations typeset as images (default), or as Unicode text only",
    )
    async def summary_view(
        self,
        interaction: discord.Interaction,
        summary_id: app_commands.Range[int, 1, MAX_SUMMARY_ID],
        math: MathMode = "image",
    ) -> None:
        summary = await self.visible_summary(summary_id, interaction.guild_id)
        await self.send_summary(interaction, summary, math=math)

    # -- /latest, /top, /random --------------------------------------------------------------

    @app_commands.command(name="latest", description="The most recently published summaries")
    @app_commands.describe(count="How many (1-25, default 10)")
    async def latest(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        await self.show_latest(interaction, count)

    async def show_latest(
        self, interaction: discord.Interaction, count: int = 10, *, ephemeral: bool = False
    ) -> None:
        """`/latest`, and the Latest button under an announcement's "…and N more" line."""
        summaries = await self.summaries.latest(count, guild_id=interaction.guild_id)
        if not summaries:
            raise await self.empty_library(interaction.guild_id) or UserFacingError(
                "There are no summaries here yet."
            )
        await self.send_listing(
            interaction,
            title="Latest summaries",
            summaries=summaries,
            when_style="R",
            command="/latest",
            ephemeral=ephemeral,
        )

    @app_commands.command(name="top", description="The best-scored summaries of a period")
    @app_commands.describe(period="Published in the last week, month (default), year, or ever")
    async def top(self, interaction: discord.Interaction, period: Period = "month") -> None:
        days = PERIOD_DAYS[period]
        since = (
            datetime.fromtimestamp(0, UTC)
            if days is None
            else datetime.now(UTC) - timedelta(days=days)
        )
        summaries = await self.summaries.top(since, TOP_COUNT, guild_id=interaction.guild_id)
        heading = "ever" if days is None else f"of the last {period}"
        if not summaries:
            if (empty := await self.empty_library(interaction.guild_id)) is not None:
                raise empty
            window = "" if days is None else f" in the last {period}"
            raise UserFacingError(f"No summaries were published here{window}. Try a longer period.")
        await self.send_listing(
            interaction, title=f"Top summaries {heading}", summaries=summaries, command="/top"
        )

    @app_commands.command(name="random", description="A random summary, to discover a paper")
    async def random(self, interaction: discord.Interaction) -> None:
        summary = await self.summaries.random(guild_id=interaction.guild_id)
        if summary is None:
            raise await self.empty_library(interaction.guild_id) or UserFacingError(
                "There are no summaries here yet."
            )
        await self.send_summary(interaction, summary)


def _describe_filters(
    author: str | None, year: int | None, venue: str | None, origin: Origin
) -> str:
    parts = []
    if author:
        parts.append(f"author {inline_text(author, 100)}")
    if year:
        parts.append(f"year {year}")
    if venue:
        parts.append(f"venue {inline_text(venue, 100)}")
    if origin != "all":
        parts.append("from feeds" if origin == "feeds" else "from this server's members")
    return ", ".join(parts)


def _filters_suffix(filters: str) -> str:
    return f" ({filters})" if filters else ""
