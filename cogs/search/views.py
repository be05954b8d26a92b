"""The views behind `/search`, `/paper`, `/similar`, `/summary view`, `/latest`, `/top` and
`/random`.

Who may press what: anyone may page a summary or a result list, so a group can read one
together. Whoever ran the command pages the message itself; anyone else who presses Prev or
Next gets a private (ephemeral) copy at the page they asked for, which they then page
themselves. Opening a result and "Download .md" are open to everyone too, because they only
answer the person who clicked (publicly for the owner of the list, ephemerally for anyone
else, so a channel is not flooded by onlookers). "More" on a paper card belongs to the
person who ran the command (anyone else gets an ephemeral note, from `OwnedView`). On
timeout the interactive controls go and link buttons stay.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import discord
from discord.utils import MISSING

from bot.announce.components import (
    LATEST_TEMPLATE,
    READ_TEMPLATE,
    latest_button,
    read_button,
)
from bot.errors import UserFacingError, report_interaction_error
from bot.paged import MathMode, PagedMessages, PageMessage
from bot.presenters import (
    BRAND_COLOUR,
    SELECT_OPTION_LIMIT,
    Link,
    ListedSummary,
    abstract_is_long,
    inline_title,
    paper_card,
    paper_links,
    plain_excerpt,
    plain_text,
    results_embed,
    score_text,
    select_option_texts,
    summary_filename,
    summary_links,
    summary_markdown,
    summary_title,
    title_text,
)
from bot.rendering.text import plural
from bot.rendering.urls import button_url
from bot.search import SimilarPaper
from bot.storage.papers import Paper
from bot.storage.summaries import Summary
from bot.ui import OwnedView, update_message, within_deadline

if TYPE_CHECKING:
    from cogs.search.cog import SearchCog

PAGE_SIZE: Final = 5
LINK_BUTTONS: Final = 5  # one row
BUTTON_LABEL_LIMIT: Final = 80


@dataclass(frozen=True, slots=True)
class ResultPage:
    """One page of a result list. `total` is None when only `has_more` is known."""

    items: list[ListedSummary]
    offset: int
    total: int | None
    has_more: bool
    nothing_to_search: bool = False
    corrected: str | None = None  # typos corrected: the words actually searched


PageLoader = Callable[[int, int], Awaitable[ResultPage]]


def link_buttons(links: Sequence[Link], *, row: int) -> list[discord.ui.Button[Any]]:
    """A row of link buttons, for the links Discord takes on a button (512 characters at
    most; a longer link stays in the text)."""
    usable = [link for link in links if button_url(link.url) is not None]
    return [
        discord.ui.Button(label=link.label[:BUTTON_LABEL_LIMIT], url=link.url, row=row)
        for link in usable[:LINK_BUTTONS]
    ]


def previous_next_buttons(*, row: int) -> tuple[discord.ui.Button[Any], discord.ui.Button[Any]]:
    """The Prev and Next buttons of a paged view; the view sets their callbacks."""
    previous: discord.ui.Button[Any] = discord.ui.Button(
        label="Prev", emoji="◀️", style=discord.ButtonStyle.secondary, row=row
    )
    following: discord.ui.Button[Any] = discord.ui.Button(
        label="Next", emoji="▶️", style=discord.ButtonStyle.secondary, row=row
    )
    return previous, following


class ReaderView(OwnedView):
    """An owned view with some controls open to everyone, whose links outlive its timeout."""

    def __init__(self, owner_id: int, *, timeout: float | None) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.public_custom_ids: set[str] = set()

    def make_public(self, item: discord.ui.Button[Any] | discord.ui.Select[Any]) -> None:
        # Only link buttons have no custom_id, and those need no permission check.
        if item.custom_id is not None:
            self.public_custom_ids.add(item.custom_id)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        data: dict[str, Any] = dict(interaction.data or {})
        if data.get("custom_id") in self.public_custom_ids:
            return True
        return await super().interaction_check(interaction)

    def link_only_view(self) -> discord.ui.View | None:
        links = [
            item
            for item in self.children
            if isinstance(item, discord.ui.Button) and item.url is not None
        ]
        if not links:
            return None
        remaining = discord.ui.View(timeout=None)
        for item in links:
            remaining.add_item(
                discord.ui.Button(label=item.label, url=item.url, row=item.row, emoji=item.emoji)
            )
        return remaining

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        # The message may be gone or its token expired: then there is nothing left to tidy.
        with contextlib.suppress(discord.HTTPException):
            await self.message.edit(view=self.link_only_view())


async def remember_message(interaction: discord.Interaction, view: OwnedView) -> None:
    """Point the view at the message just sent as the interaction's response."""
    with contextlib.suppress(discord.HTTPException):
        view.message = await interaction.original_response()


async def reply(
    interaction: discord.Interaction,
    *,
    embed: discord.Embed | None = None,
    content: str | None = None,
    view: OwnedView | None = None,
    ephemeral: bool = False,
    files: Sequence[discord.File] = (),
) -> None:
    """Send the interaction's answer, whether or not it was deferred, and tie `view` to it.

    After a "thinking" defer the answer replaces the placeholder, whose visibility was fixed
    when deferring."""
    if interaction.response.is_done():
        message = await interaction.followup.send(
            content=content or MISSING,
            embed=embed or MISSING,
            view=view or MISSING,
            ephemeral=ephemeral,
            files=list(files) or MISSING,
            wait=True,
        )
        if view is not None:
            view.message = message
        return
    await interaction.response.send_message(
        content=content,
        embed=embed or MISSING,
        view=view or MISSING,
        ephemeral=ephemeral,
        files=list(files) or MISSING,
    )
    if view is not None:
        await remember_message(interaction, view)


# ---------------------------------------------------------------------------------------------
# A whole summary, page by page


class SummaryView(ReaderView):
    """Prev/Next through a summary's pages, "Download .md" and links, for anyone: the owner
    pages the message, anyone else gets a private copy at the page they asked for.

    Turning the page replaces the message's attachment with the new page's equation card
    (or none), so the message never collects the cards of earlier pages."""

    def __init__(
        self,
        cog: SearchCog,
        summary: Summary,
        pages: PagedMessages,
        *,
        owner_id: int,
        timeout: float | None,
        page_index: int = 0,
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.cog = cog
        self.summary = summary
        self.pages = pages
        self.page_index = max(0, min(page_index, pages.count - 1))
        if pages.count > 1:
            self.previous_button, self.next_button = previous_next_buttons(row=0)
            self.previous_button.callback = self.previous_page
            self.next_button.callback = self.next_page
            self.add_item(self.previous_button)
            self.add_item(self.next_button)
            self.make_public(self.previous_button)
            self.make_public(self.next_button)
        download: discord.ui.Button[SummaryView] = discord.ui.Button(
            label="Download .md", emoji="📄", style=discord.ButtonStyle.primary, row=0
        )
        download.callback = self.download
        self.add_item(download)
        self.make_public(download)
        for button in link_buttons(summary_links(summary), row=1):
            self.add_item(button)
        self.update_buttons()

    def update_buttons(self) -> None:
        if self.pages.count > 1:
            self.previous_button.disabled = self.page_index == 0
            self.next_button.disabled = self.page_index >= self.pages.count - 1

    async def show_page(self, interaction: discord.Interaction, index: int) -> None:
        """Page `index`: in this message for its owner, else in a private copy."""
        if interaction.user.id != self.owner_id:
            await self.send_copy(interaction, index)
            return
        self.page_index = max(0, min(index, self.pages.count - 1))
        self.update_buttons()
        page = await within_deadline(
            interaction,
            self.pages.page(self.page_index),
            patience=self.cog.slow_reply_seconds,
            update=True,
        )
        await update_message(
            interaction,
            embed=page.embed,
            view=self,
            attachments=page.files if self.pages.has_cards else None,
        )

    async def send_copy(self, interaction: discord.Interaction, index: int) -> None:
        """Someone other than the owner paging: their own private copy of the summary, at
        the page they asked for, with controls of their own."""
        copy = SummaryView(
            self.cog,
            self.summary,
            self.pages,
            owner_id=interaction.user.id,
            timeout=self.cog.view_timeout,
            page_index=index,
        )
        page = await within_deadline(
            interaction,
            self.pages.page(copy.page_index),
            patience=self.cog.slow_reply_seconds,
            ephemeral=True,
        )
        await reply(interaction, embed=page.embed, view=copy, ephemeral=True, files=page.files)

    async def previous_page(self, interaction: discord.Interaction) -> None:
        await self.show_page(interaction, self.page_index - 1)

    async def next_page(self, interaction: discord.Interaction) -> None:
        await self.show_page(interaction, self.page_index + 1)

    async def download(self, interaction: discord.Interaction) -> None:
        # The stored text as it is now (it may have been edited, or deleted, since).
        summary = await self.cog.visible_summary(self.summary.id, interaction.guild_id)
        data = summary_markdown(summary).encode("utf-8")
        await interaction.response.send_message(
            f"The Markdown of summary #{summary.id}.",
            file=discord.File(io.BytesIO(data), filename=summary_filename(summary)),
            ephemeral=True,
        )


async def send_summary(
    cog: SearchCog,
    interaction: discord.Interaction,
    summary: Summary,
    *,
    ephemeral: bool = False,
    math: MathMode = "image",
) -> None:
    """Answer `interaction` with the summary's first page (and its equation card) and its
    controls."""

    async def first_page() -> tuple[PagedMessages, PageMessage]:
        pages = await cog.render_pages(summary, math=math)
        return pages, await pages.page(0)

    pages, page = await within_deadline(
        interaction, first_page(), patience=cog.slow_reply_seconds, ephemeral=ephemeral
    )
    view = SummaryView(cog, summary, pages, owner_id=interaction.user.id, timeout=cog.view_timeout)
    await reply(interaction, embed=page.embed, view=view, ephemeral=ephemeral, files=page.files)


async def open_summary_for(
    cog: SearchCog, interaction: discord.Interaction, summary_id: int, *, owner_id: int
) -> None:
    """Open a summary picked from a list: in public for the list's owner, else ephemerally."""
    summary = await cog.visible_summary(summary_id, interaction.guild_id)
    await send_summary(cog, interaction, summary, ephemeral=interaction.user.id != owner_id)


# ---------------------------------------------------------------------------------------------
# The buttons under announcements: Read, and Latest under an "…and N more" line

SEARCH_COG_NAME: Final = "Search"


def _reader(interaction: discord.Interaction) -> SearchCog:
    # A dynamic item is built from a custom_id alone: it finds the cog that reads summaries.
    cog = interaction.client.get_cog(SEARCH_COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        raise UserFacingError("Reading summaries is not available right now; try again soon.")
    return cast("SearchCog", cog)


class ReadButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=READ_TEMPLATE):
    """**Read** under an announcement: the whole summary, paged, privately for whoever
    clicks (Prev/Next, Download .md and links, as `/summary view` shows it)."""

    def __init__(self, summary_id: int, marker: str | None = None) -> None:
        super().__init__(read_button(summary_id, marker))
        self.summary_id = summary_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ReadButton:
        return cls(int(match["summary_id"]), match["marker"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            cog = _reader(interaction)
            summary = await cog.visible_summary(self.summary_id, interaction.guild_id)
            await send_summary(cog, interaction, summary, ephemeral=True)
        except Exception as exc:  # the dynamic view's own handler would only log it
            await report_interaction_error(interaction, exc)


class LatestButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=LATEST_TEMPLATE):
    """**Latest summaries** under an "…and N more" line: `/latest`, privately."""

    def __init__(self, marker: str | None = None) -> None:
        super().__init__(latest_button(marker))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> LatestButton:
        return cls(match["marker"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _reader(interaction).show_latest(interaction, ephemeral=True)
        except Exception as exc:
            await report_interaction_error(interaction, exc)


# ---------------------------------------------------------------------------------------------
# Result lists: search results, latest, top


class SummaryListView(ReaderView):
    """A ranked list, PAGE_SIZE a page: Prev/Next (the owner pages the message, anyone else
    gets a private copy at the page they asked for), a menu that opens a result."""

    def __init__(
        self,
        cog: SearchCog,
        *,
        owner_id: int,
        title: str,
        loader: PageLoader,
        first_page: ResultPage,
        timeout: float | None,
        description_prefix: str = "",
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.cog = cog
        self.title = title
        self.loader = loader
        self.page = first_page
        self.description_prefix = description_prefix
        self.open_select: discord.ui.Select[SummaryListView] = discord.ui.Select(
            placeholder="Open a result…", min_values=1, max_values=1, row=0
        )
        self.open_select.callback = self.open_result
        self.previous_button, self.next_button = previous_next_buttons(row=1)
        self.previous_button.callback = self.previous_page
        self.next_button.callback = self.next_page
        self.add_item(self.open_select)
        self.make_public(self.open_select)
        if self.has_several_pages:
            self.add_item(self.previous_button)
            self.add_item(self.next_button)
            self.make_public(self.previous_button)
            self.make_public(self.next_button)
        self.refresh()

    @property
    def has_several_pages(self) -> bool:
        if self.page.total is not None:
            return self.page.total > PAGE_SIZE
        return self.page.has_more or self.page.offset > 0

    @property
    def page_number(self) -> int:
        return self.page.offset // PAGE_SIZE + 1

    def footer(self) -> str:
        first = self.page.offset + 1
        last = self.page.offset + len(self.page.items)
        if self.page.total is None:
            return f"Results {first}–{last} · page {self.page_number}"
        pages = max(1, -(-self.page.total // PAGE_SIZE))
        return f"Results {first}–{last} of {self.page.total} · page {self.page_number} of {pages}"

    @property
    def embed(self) -> discord.Embed:
        return results_embed(
            self.page.items,
            title=self.title,
            first_rank=self.page.offset + 1,
            footer=self.footer(),
            description_prefix=self.description_prefix,
        )

    def refresh(self) -> None:
        self.open_select.options = []
        for rank, item in enumerate(self.page.items[:SELECT_OPTION_LIMIT], self.page.offset + 1):
            label, description = select_option_texts(item, rank)
            self.open_select.add_option(
                label=label, description=description, value=str(item.summary_id)
            )
        self.previous_button.disabled = self.page.offset == 0
        self.next_button.disabled = not self.page.has_more

    async def go_to(self, interaction: discord.Interaction, offset: int) -> None:
        """The page at `offset`: in this message for its owner, else in a private copy."""
        owner = interaction.user.id == self.owner_id
        page = await within_deadline(
            interaction,
            self.loader(max(0, offset), PAGE_SIZE),
            patience=self.cog.slow_reply_seconds,
            update=owner,
            ephemeral=not owner,
        )
        if not page.items:
            # The list shrank since it was shown (summaries deleted): stay where we are.
            raise UserFacingError("There are no more results.")
        if not owner:
            copy = SummaryListView(
                self.cog,
                owner_id=interaction.user.id,
                title=self.title,
                loader=self.loader,
                first_page=page,
                timeout=self.cog.view_timeout,
                description_prefix=self.description_prefix,
            )
            await reply(interaction, embed=copy.embed, view=copy, ephemeral=True)
            return
        self.page = page
        self.refresh()
        await update_message(interaction, embed=self.embed, view=self)

    async def previous_page(self, interaction: discord.Interaction) -> None:
        await self.go_to(interaction, self.page.offset - PAGE_SIZE)

    async def next_page(self, interaction: discord.Interaction) -> None:
        await self.go_to(interaction, self.page.offset + PAGE_SIZE)

    async def open_result(self, interaction: discord.Interaction) -> None:
        await open_summary_for(
            self.cog, interaction, int(self.open_select.values[0]), owner_id=self.owner_id
        )


def local_loader(items: Sequence[ListedSummary]) -> PageLoader:
    """Pages over a list already in memory (latest, top)."""

    async def load(offset: int, limit: int) -> ResultPage:
        chunk = list(items[offset : offset + limit])
        return ResultPage(
            items=chunk,
            offset=offset,
            total=len(items),
            has_more=offset + limit < len(items),
        )

    return load


# ---------------------------------------------------------------------------------------------
# The paper card


class PaperView(ReaderView):
    """ "More"/"Less" for a long abstract (owner only), a menu opening each summary (anyone),
    and the paper's links."""

    def __init__(
        self,
        cog: SearchCog,
        paper: Paper,
        summaries: Sequence[Summary],
        *,
        owner_id: int,
        timeout: float | None,
        fetching: Sequence[str] = (),
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.cog = cog
        self.paper = paper
        self.summaries = list(summaries)
        self.fetching = tuple(fetching)
        self.expanded = False
        self.more_button: discord.ui.Button[PaperView] | None = None
        if self.summaries:
            select: discord.ui.Select[PaperView] = discord.ui.Select(
                placeholder="Open a summary…", min_values=1, max_values=1, row=0
            )
            for rank, summary in enumerate(self.summaries[:SELECT_OPTION_LIMIT], start=1):
                author = plain_text(summary.author_name or "Anonymous", 60)
                select.add_option(
                    label=plain_text(f"{rank}. {author} · {score_text(summary.score)}", 100),
                    description=plain_excerpt(summary.tldr, 100)
                    if summary.tldr.strip()
                    else plain_text(title_text(summary_title(summary)), 100),
                    value=str(summary.id),
                )
            select.callback = self.open_selected
            self.open_select = select
            self.add_item(select)
            self.make_public(select)
        if abstract_is_long(paper):
            self.more_button = discord.ui.Button(
                label="More", emoji="📖", style=discord.ButtonStyle.secondary, row=1
            )
            self.more_button.callback = self.toggle_abstract
            self.add_item(self.more_button)
        similar: discord.ui.Button[PaperView] = discord.ui.Button(
            label="Similar", emoji="🧭", style=discord.ButtonStyle.secondary, row=1
        )
        similar.callback = self.show_similar
        self.add_item(similar)
        self.make_public(similar)
        for button in link_buttons(paper_links(paper), row=2):
            self.add_item(button)

    @property
    def embed(self) -> discord.Embed:
        return paper_card(
            self.paper, self.summaries, expanded=self.expanded, fetching=self.fetching
        )

    async def toggle_abstract(self, interaction: discord.Interaction) -> None:
        self.expanded = not self.expanded
        if self.more_button is not None:
            self.more_button.label = "Less" if self.expanded else "More"
        await interaction.response.edit_message(embed=self.embed, view=self)

    async def open_selected(self, interaction: discord.Interaction) -> None:
        await open_summary_for(
            self.cog, interaction, int(self.open_select.values[0]), owner_id=self.owner_id
        )

    async def show_similar(self, interaction: discord.Interaction) -> None:
        await self.cog.send_similar(interaction, self.paper, owner_id=self.owner_id)


# ---------------------------------------------------------------------------------------------
# Similar papers


def similar_embed(paper: Paper, similar: Sequence[SimilarPaper]) -> discord.Embed:
    lines = []
    for rank, item in enumerate(similar, start=1):
        count = plural(item.summaries, "summary") if item.summaries else "its abstract"
        lines.append(f"**{rank}.** {inline_title(item.title or 'Untitled paper', 200)} · {count}")
    embed = discord.Embed(
        title=plain_text(f"Similar to: {title_text(paper.title) or 'this paper'}", 256),
        description="\n".join(lines),
        colour=BRAND_COLOUR,
    )
    embed.set_footer(text="By their summaries and abstracts · pick one to open it")
    return embed


class SimilarView(ReaderView):
    """The papers most like one paper; anyone may open one (privately unless theirs)."""

    def __init__(
        self,
        cog: SearchCog,
        paper: Paper,
        similar: Sequence[SimilarPaper],
        *,
        owner_id: int,
        timeout: float | None,
    ) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.cog = cog
        self.paper = paper
        self.similar = list(similar)
        self.open_select: discord.ui.Select[SimilarView] = discord.ui.Select(
            placeholder="Open a paper…", min_values=1, max_values=1, row=0
        )
        for rank, item in enumerate(self.similar[:SELECT_OPTION_LIMIT], start=1):
            self.open_select.add_option(
                label=plain_text(f"{rank}. {title_text(item.title) or 'Untitled paper'}", 100),
                value=str(item.paper_id),
            )
        self.open_select.callback = self.open_paper
        self.add_item(self.open_select)
        self.make_public(self.open_select)

    @property
    def embed(self) -> discord.Embed:
        return similar_embed(self.paper, self.similar)

    async def open_paper(self, interaction: discord.Interaction) -> None:
        paper = await self.cog.visible_paper(int(self.open_select.values[0]), interaction.guild_id)
        await self.cog.send_paper(
            interaction, paper, ephemeral=interaction.user.id != self.owner_id
        )
