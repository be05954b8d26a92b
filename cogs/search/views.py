"""The controls of `/search`, `/paper`, `/similar`, `/summary view`, `/latest`, `/top` and
`/random`, answered by whichever bot process receives the click (`bot.ui`).

What each control's custom_id carries:

- a summary's pages: `ss:sv:<summary id>:<page>:<math>:prev|next` (the page it turns to;
  math `i` images or `t` text) and `ss:md:<summary id>` (Download .md);
- a result list: `ss:list:<state>:<offset>:prev|next` and `ss:list:<state>:open`, where the
  state row (`bot.storage.interactions`) holds the query and its filters, or the ids listed;
- a paper card: `ss:paper:<paper id>:more|less|open|similar`; similar papers:
  `ss:similar:<paper id>`.

Who may press what: anyone may page a summary or a result list, so a group can read one
together. Whoever the message was made for pages the message itself; anyone else who
presses Prev or Next gets a private (ephemeral) copy at the page they asked for, which they
then page themselves. Opening a result and "Download .md" are open to everyone too, because
they only answer the person who clicked (publicly for the message's owner, ephemerally for
anyone else, so a channel is not flooded by onlookers). "More" on a paper card belongs to
the message's owner. Ids from custom_ids and menus are checked against what the clicker's
server may see, as a typed command's are. After a while without use the interactive
controls go and link buttons stay.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import discord

from bot.announce.components import (
    LATEST_TEMPLATE,
    READ_TEMPLATE,
    latest_button,
    read_button,
)
from bot.errors import UserFacingError, report_interaction_error
from bot.paged import MathMode
from bot.presenters import (
    BRAND_COLOUR,
    SELECT_OPTION_LIMIT,
    Link,
    ListedSummary,
    abstract_is_long,
    inline_title,
    paper_links,
    plain_excerpt,
    plain_text,
    results_embed,
    score_text,
    select_option_texts,
    summary_links,
    summary_title,
    title_text,
)
from bot.rendering.text import plural
from bot.rendering.urls import button_url
from bot.search import SimilarPaper
from bot.storage.interactions import STATE_ID_PATTERN
from bot.storage.papers import Paper
from bot.storage.summaries import Summary
from bot.ui import Control, Controls, control_button, selected_values

if TYPE_CHECKING:
    from cogs.search.cog import SearchCog

PAGE_SIZE: Final = 5
LINK_BUTTONS: Final = 5  # one row
BUTTON_LABEL_LIMIT: Final = 80
SEARCH_COG_NAME: Final = "Search"

Direction = Literal["prev", "next"]
PaperAction = Literal["more", "less", "open", "similar"]

SUMMARY_PAGE_TEMPLATE: Final = (
    r"ss:sv:(?P<summary_id>[0-9]{1,19}):(?P<page>[0-9]{1,5}):(?P<math>[it]):"
    r"(?P<direction>prev|next)"
)
DOWNLOAD_TEMPLATE: Final = r"ss:md:(?P<summary_id>[0-9]{1,19})"
RESULTS_TEMPLATE: Final = (
    rf"ss:list:(?P<state>{STATE_ID_PATTERN}):"
    r"(?:(?P<offset>[0-9]{1,7}):(?P<direction>prev|next)|(?P<open>open))"
)
PAPER_TEMPLATE: Final = r"ss:paper:(?P<paper_id>[0-9]{1,19}):(?P<action>more|less|open|similar)"
SIMILAR_TEMPLATE: Final = r"ss:similar:(?P<paper_id>[0-9]{1,19})"


@dataclass(frozen=True, slots=True)
class ResultPage:
    """One page of a result list. `total` is None when only `has_more` is known."""

    items: list[ListedSummary]
    offset: int
    total: int | None
    has_more: bool
    nothing_to_search: bool = False
    corrected: str | None = None  # typos corrected: the words actually searched
    cut_to: str | None = None  # too many words: the first ones, the words actually searched


def link_buttons(links: Sequence[Link], *, row: int) -> list[discord.ui.Button[Any]]:
    """A row of link buttons, for the links Discord takes on a button (512 characters at
    most; a longer link stays in the text)."""
    usable = [link for link in links if button_url(link.url) is not None]
    return [
        discord.ui.Button(label=link.label[:BUTTON_LABEL_LIMIT], url=link.url, row=row)
        for link in usable[:LINK_BUTTONS]
    ]


def previous_next_buttons(
    previous_id: str, next_id: str, *, row: int, first: bool, last: bool
) -> list[discord.ui.Button[Any]]:
    """Prev and Next, disabled at either end."""
    return [
        control_button("Prev", previous_id, emoji="◀️", row=row, disabled=first),
        control_button("Next", next_id, emoji="▶️", row=row, disabled=last),
    ]


def _reader(interaction: discord.Interaction) -> SearchCog:
    # A control is built from a custom_id alone: it finds the cog that reads summaries.
    cog = interaction.client.get_cog(SEARCH_COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        raise UserFacingError("Reading summaries is not available right now; try again soon.")
    return cast("SearchCog", cog)


# ---------------------------------------------------------------------------------------------
# A whole summary, page by page


def math_flag(math: MathMode) -> str:
    return "t" if math == "text" else "i"


def summary_controls(summary: Summary, *, page: int, pages: int, math: MathMode) -> Controls:
    """Prev/Next (with more than one page), Download .md, and the summary's links."""
    items: list[discord.ui.Item[Any]] = []
    if pages > 1:
        flag = math_flag(math)
        items += previous_next_buttons(
            f"ss:sv:{summary.id}:{max(page - 1, 0)}:{flag}:prev",
            f"ss:sv:{summary.id}:{min(page + 1, pages - 1)}:{flag}:next",
            row=0,
            first=page == 0,
            last=page >= pages - 1,
        )
    items.append(
        control_button(
            "Download .md",
            f"ss:md:{summary.id}",
            emoji="📄",
            style=discord.ButtonStyle.primary,
            row=0,
        )
    )
    items += link_buttons(summary_links(summary), row=1)
    return Controls(*items)


class SummaryPageControl(Control, template=SUMMARY_PAGE_TEMPLATE):
    """Prev / Next under a summary's page."""

    async def handle(self, interaction: discord.Interaction) -> None:
        math: MathMode = "text" if self.match["math"] == "t" else "image"
        await _reader(interaction).turn_summary(
            interaction, int(self.match["summary_id"]), int(self.match["page"]), math
        )


class DownloadControl(Control, template=DOWNLOAD_TEMPLATE):
    """Download .md under a summary: the stored text as it is now, privately."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await _reader(interaction).download_summary(interaction, int(self.match["summary_id"]))


# ---------------------------------------------------------------------------------------------
# The buttons under announcements: Read, and Latest under an "…and N more" line


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
            await cog.send_summary(interaction, summary, ephemeral=True)
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


def results_footer(page: ResultPage) -> str:
    first = page.offset + 1
    last = page.offset + len(page.items)
    number = page.offset // PAGE_SIZE + 1
    if page.total is None:
        return f"Results {first}–{last} · page {number}"
    pages = max(1, -(-page.total // PAGE_SIZE))
    return f"Results {first}–{last} of {page.total} · page {number} of {pages}"


def results_page_embed(page: ResultPage, *, title: str, description_prefix: str) -> discord.Embed:
    return results_embed(
        page.items,
        title=title,
        first_rank=page.offset + 1,
        footer=results_footer(page),
        description_prefix=description_prefix,
    )


def has_several_pages(page: ResultPage) -> bool:
    if page.total is not None:
        return page.total > PAGE_SIZE
    return page.has_more or page.offset > 0


def results_controls(state_id: str, page: ResultPage) -> Controls:
    """A menu opening a result (anyone), and Prev/Next when there is more than one page."""
    menu: discord.ui.Select[Any] = discord.ui.Select(
        placeholder="Open a result…",
        min_values=1,
        max_values=1,
        row=0,
        custom_id=f"ss:list:{state_id}:open",
    )
    for rank, item in enumerate(page.items[:SELECT_OPTION_LIMIT], page.offset + 1):
        label, description = select_option_texts(item, rank)
        menu.add_option(label=label, description=description, value=str(item.summary_id))
    items: list[discord.ui.Item[Any]] = [menu]
    if has_several_pages(page):
        items += previous_next_buttons(
            f"ss:list:{state_id}:{max(page.offset - PAGE_SIZE, 0)}:prev",
            f"ss:list:{state_id}:{page.offset + PAGE_SIZE}:next",
            row=1,
            first=page.offset == 0,
            last=not page.has_more,
        )
    return Controls(*items)


class ResultsControl(Control, template=RESULTS_TEMPLATE):
    """Prev / Next and the menu under a result list."""

    async def handle(self, interaction: discord.Interaction) -> None:
        reader = _reader(interaction)
        if self.match["open"]:
            # A result's id is checked like a typed one: the list's state is not needed.
            await reader.open_summary(interaction, int(selected_values(interaction)[0]))
        else:
            await reader.turn_results(interaction, self.match["state"], int(self.match["offset"]))


# ---------------------------------------------------------------------------------------------
# The paper card


def paper_controls(paper: Paper, summaries: Sequence[Summary], *, expanded: bool) -> Controls:
    """A menu opening each summary (anyone), More/Less for a long abstract (the owner),
    Similar (anyone), and the paper's links."""
    items: list[discord.ui.Item[Any]] = []
    if summaries:
        menu: discord.ui.Select[Any] = discord.ui.Select(
            placeholder="Open a summary…",
            min_values=1,
            max_values=1,
            row=0,
            custom_id=f"ss:paper:{paper.id}:open",
        )
        for rank, summary in enumerate(summaries[:SELECT_OPTION_LIMIT], start=1):
            author = plain_text(summary.author_name or "Anonymous", 60)
            menu.add_option(
                label=plain_text(f"{rank}. {author} · {score_text(summary.score)}", 100),
                description=plain_excerpt(summary.tldr, 100)
                if summary.tldr.strip()
                else plain_text(title_text(summary_title(summary)), 100),
                value=str(summary.id),
            )
        items.append(menu)
    if abstract_is_long(paper):
        toggle = "less" if expanded else "more"
        items.append(
            control_button(toggle.title(), f"ss:paper:{paper.id}:{toggle}", emoji="📖", row=1)
        )
    items.append(control_button("Similar", f"ss:paper:{paper.id}:similar", emoji="🧭", row=1))
    items += link_buttons(paper_links(paper), row=2)
    return Controls(*items)


class PaperControl(Control, template=PAPER_TEMPLATE):
    """More / Less, Similar and the summary menu under a paper card."""

    async def handle(self, interaction: discord.Interaction) -> None:
        action = cast(PaperAction, self.match["action"])
        await _reader(interaction).paper_action(interaction, int(self.match["paper_id"]), action)


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


def similar_controls(paper: Paper, similar: Sequence[SimilarPaper]) -> Controls:
    """A menu opening each similar paper's card (anyone: privately unless theirs)."""
    menu: discord.ui.Select[Any] = discord.ui.Select(
        placeholder="Open a paper…",
        min_values=1,
        max_values=1,
        row=0,
        custom_id=f"ss:similar:{paper.id}",
    )
    for rank, item in enumerate(similar[:SELECT_OPTION_LIMIT], start=1):
        menu.add_option(
            label=plain_text(f"{rank}. {title_text(item.title) or 'Untitled paper'}", 100),
            value=str(item.paper_id),
        )
    return Controls(menu)


class SimilarControl(Control, template=SIMILAR_TEMPLATE):
    """The menu under similar papers."""

    async def handle(self, interaction: discord.Interaction) -> None:
        await _reader(interaction).open_paper(interaction, int(selected_values(interaction)[0]))


CONTROLS: Final = (
    ReadButton,
    LatestButton,
    SummaryPageControl,
    DownloadControl,
    ResultsControl,
    PaperControl,
    SimilarControl,
)
