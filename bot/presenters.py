"""Papers, summaries and result lists as Discord embeds: pure functions, no I/O.

Shared by the search cog (`/search`, `/paper`, `/summary view`, `/latest`, `/top`,
`/random`), the community preview and the announcer, so a paper or a summary looks the same
wherever it appears. Every embed built here stays within Discord's documented limits:
titles, author names and list lines are shortened, while a summary's body is paginated
(`summary_pages`), never cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import discord
from discord.utils import TimestampStyle

from bot.papers import PaperId
from bot.rendering.equation_pages import PageEquations, plan_pages
from bot.rendering.latex import convert_math_in_text
from bot.rendering.markdown import RenderedSummary, render_inline_text, render_summary
from bot.rendering.pages import (
    DEFAULT_PAGE_CHARS,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    EmbedField,
    EmbedPage,
    paginate_for_embed,
    split_pages,
)
from bot.rendering.text import clean_user_text, escape_markdown, neutralize_mentions, shorten
from bot.rendering.units import strip_marks
from bot.rendering.urls import embed_url, is_markdown_safe_url, is_web_url
from bot.search.excerpt import fragment, render_excerpt
from bot.storage.papers import Paper
from bot.storage.summaries import Summary
from bot.typeset.layout import Drawing
from bot.typeset.style import DEFAULT_STYLE, MathStyle

BRAND_COLOUR: Final = 0x2B6CB0
COMMUNITY_COLOUR: Final = 0x2F855A
SHORTSCIENCE_BASE_URL: Final = "https://www.shortscience.org/"
# Select menus: at most 25 options; labels, descriptions and values at most 100 characters.
SELECT_OPTION_LIMIT: Final = 25
SELECT_TEXT_LIMIT: Final = 100
# The paper card shows this much abstract until "More" is pressed.
SHORT_ABSTRACT_CHARS: Final = 600
EXCERPT_CHARS: Final = 180
UNTITLED: Final = "Untitled paper"
ABSTRACT_OF_PAPER: Final = "Abstract of the paper"

LinkKind = Literal["arxiv", "pdf", "doi", "shortscience", "paper", "summary"]


# ---------------------------------------------------------------------------------------------
# Small pieces


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled web link, for Markdown (`[label](url)`) or a link button."""

    kind: LinkKind
    label: str
    url: str

    @property
    def markdown(self) -> str:
        return f"[{self.label}]({self.url})"


def score_text(score: int) -> str:
    return f"▲ {score}" if score >= 0 else f"▼ {-score}"


def inline_text(text: str, limit: int) -> str:
    """User text for one line of an embed: cleaned, on one line, shortened, shown literally
    (Markdown escaped, mentions made inert)."""
    flat = " ".join(clean_user_text(text).split())
    return neutralize_mentions(escape_markdown(shorten(flat, limit), line_start=False))


def plain_text(text: str, limit: int) -> str:
    """Cleaned, one-line, shortened user text with no Markdown at all (for select menus,
    button labels and other places that show text verbatim)."""
    return shorten(" ".join(clean_user_text(text).split()), limit)


def paper_title(paper: Paper | None, fallback: str = "") -> str:
    if paper is not None and paper.title.strip():
        return paper.title
    return fallback.strip() or UNTITLED


def summary_title(summary: Summary) -> str:
    return paper_title(summary.paper, summary.title)


def title_text(title: str) -> str:
    """A title as it is shown: one line of plain text, its math in Unicode and its Markdown
    dropped (the conversion `/summary view` applies), for embed titles, list lines and
    select options."""
    return render_inline_text(title, markdown=False)


def inline_title(title: str, limit: int) -> str:
    """A title on one line of an embed's text: converted (`title_text`), shortened, shown
    literally (Markdown escaped, mentions made inert)."""
    return inline_text(title_text(title), limit)


# ---------------------------------------------------------------------------------------------
# Links


def paper_links(paper: Paper | None) -> list[Link]:
    """arXiv abstract and PDF, DOI, ShortScience page, then the paper's own landing page when
    it is none of those. Only well-formed web URLs."""
    if paper is None:
        return []
    links: list[Link] = []
    arxiv = PaperId("arxiv", paper.arxiv_id) if paper.arxiv_id else None
    if arxiv is not None and arxiv.abs_url:
        links.append(Link("arxiv", "arXiv", arxiv.abs_url))
    pdf = paper.pdf_url or (arxiv.pdf_url if arxiv is not None else None)
    if pdf:
        links.append(Link("pdf", "PDF", pdf))
    if paper.doi:
        doi_url = PaperId("doi", paper.doi).doi_url
        if doi_url:
            links.append(Link("doi", "DOI", doi_url))
    if paper.bibtex_key:
        shortscience = PaperId("bibtex", paper.bibtex_key).shortscience_url
        if shortscience:
            links.append(Link("shortscience", "ShortScience", shortscience))
    if paper.url and paper.url not in {link.url for link in links}:
        links.append(Link("paper", "Paper", paper.url))
    return [link for link in links if is_web_url(link.url)]


def summary_links(summary: Summary) -> list[Link]:
    """The summary's own page (when it has one) and its paper's links."""
    links = []
    if summary.url and is_web_url(summary.url):
        links.append(Link("summary", "Summary page", summary.url))
    known = {link.url for link in links}
    links += [link for link in paper_links(summary.paper) if link.url not in known]
    return links


def format_links(links: Sequence[Link]) -> str:
    """`[arXiv](…) · [PDF](…) · …` for the links that are safe inside Markdown."""
    return " · ".join(link.markdown for link in links if is_markdown_safe_url(link.url))


def primary_url(summary: Summary) -> str | None:
    """Where a summary's title links to: its own page, else its paper's best page."""
    for link in summary_links(summary):
        return link.url
    return None


# ---------------------------------------------------------------------------------------------
# Summaries: full text, pages, download


def summary_markdown(summary: Summary) -> str:
    """The summary as its author wrote it (TL;DR first when it has one), for download."""
    body = summary.body.strip("\n")
    if summary.tldr.strip():
        return f"**TL;DR:** {summary.tldr.strip()}\n\n{body}\n"
    return body + "\n"


def summary_filename(summary: Summary) -> str:
    return f"summary-{summary.id}.md"


def abstract_label(authors: str | None) -> str:
    """What an abstract (a feed entry that is the paper itself, such as an arXiv
    announcement) shows where a summary shows its author: "Abstract of the paper by ..."."""
    names = " ".join(clean_user_text(authors or "").split())
    return f"{ABSTRACT_OF_PAPER} by {names}" if names else ABSTRACT_OF_PAPER


def paper_authors_of(summary: Summary) -> str:
    """The paper's authors as known: the paper's, else (for an abstract, whose entry names
    the paper's authors) the entry's."""
    if summary.paper is not None and summary.paper.authors.strip():
        return summary.paper.authors
    return summary.author_name if summary.is_abstract else ""


def summary_byline(summary: Summary) -> str:
    """`Author · ▲ 12` (`· this server` for community summaries), for embed authors; an
    abstract says so, with the paper's authors, and has no score."""
    if summary.is_abstract:
        return shorten(abstract_label(paper_authors_of(summary)), 256)
    parts = [" ".join(clean_user_text(summary.author_name).split()) or "Anonymous"]
    parts.append(score_text(summary.score))
    if summary.origin == "community":
        parts.append("written in this server")
    return " · ".join(parts)


EQUATION_CARD_PREFIX: Final = "equations-"


def equation_card_filename(page: int) -> str:
    """The attachment name of a page's equation card (`attachment://` refers to it)."""
    return f"{EQUATION_CARD_PREFIX}{page}.png"


@dataclass(frozen=True, slots=True)
class SummaryPages:
    """A summary ready to page through: one embed per page, the images it referenced, and
    for each page the display equations its card shows (None: no card)."""

    embeds: list[discord.Embed]
    image_urls: tuple[str, ...]
    equations: tuple[PageEquations | None, ...] = ()
    # What a page with equations shows instead when its card cannot be made.
    fallback_images: tuple[str | None, ...] = ()

    @property
    def count(self) -> int:
        return len(self.embeds)


def summary_source(summary: Summary) -> str:
    """The Markdown shown for a summary: its TL;DR in bold, then its body."""
    if summary.tldr.strip():
        return f"**TL;DR:** {summary.tldr.strip()}\n\n{summary.body}"
    return summary.body


def render_summary_text(
    summary: Summary, *, collect_equations: bool, base_url: str = SHORTSCIENCE_BASE_URL
) -> RenderedSummary:
    """The summary rendered for Discord; with `collect_equations`, its display equations
    are listed and marked in the text, to be typeset (see `summary_pages`)."""
    return render_summary(
        summary_source(summary), base_url=base_url, equations=[] if collect_equations else None
    )


def summary_pages(
    summary: Summary,
    *,
    base_url: str = SHORTSCIENCE_BASE_URL,
    rendered: RenderedSummary | None = None,
    drawings: Sequence[Drawing | None] = (),
    style: MathStyle = DEFAULT_STYLE,
    page_chars: int = DEFAULT_PAGE_CHARS,
) -> SummaryPages:
    """The whole summary, rendered for Discord, one embed per page ("page n of m"), each
    page at most `page_chars` characters of body, never cut inside a formula, code block or
    table (see `bot.rendering.pages`).

    Display equations with a drawing (`drawings[i]` for `rendered.equations[i]`) are
    numbered in the text and shown on their page's card, the page's embed image
    (`attachment://equations-<page>.png`); the others stay in Unicode only. A page without
    a card shows the first image it links to as its embed image. Every image stays a link
    in the text, where it stands. Each embed fits Discord's limits; together the pages hold
    the whole text.
    """
    if rendered is None:
        rendered = render_summary_text(summary, collect_equations=False, base_url=base_url)
    text = rendered.marked or rendered.text or "*This summary is empty.*"

    def paginate(body: str, breaks: Sequence[int]) -> list[EmbedPage]:
        return paginate_for_embed(
            body,
            title=title_text(summary_title(summary)),
            footer_template=(
                f"{'Abstract' if summary.is_abstract else 'Summary'} #{summary.id}"
                " · page {page} of {pages}"
            ),
            author=summary_byline(summary),
            breaks=breaks,
            page_chars=page_chars,
        )

    planned = plan_pages(text, rendered.equations, drawings, paginate, style)
    url = primary_url(summary)
    colour = COMMUNITY_COLOUR if summary.origin == "community" else BRAND_COLOUR
    embeds = []
    fallbacks: list[str | None] = []
    for plan in planned:
        page = plan.page
        embed = discord.Embed(
            title=page.title,
            url=url,
            description=page.description,
            colour=colour,
            timestamp=summary.edited_at,
        )
        if page.author:
            embed.set_author(name=page.author)
        embed.set_footer(text=page.footer)
        # The equations take precedence over the page's own images (still linked in it).
        page_image = _first_page_image(rendered.image_urls, plan.images)
        if plan.equations is not None:
            embed.set_image(url=f"attachment://{equation_card_filename(page.page)}")
        elif page_image is not None:
            embed.set_image(url=page_image)
        embeds.append(embed)
        fallbacks.append(page_image)
    return SummaryPages(
        embeds=embeds,
        image_urls=rendered.image_urls,
        equations=tuple(plan.equations for plan in planned),
        fallback_images=tuple(fallbacks),
    )


def _first_page_image(image_urls: Sequence[str], on_page: Sequence[int]) -> str | None:
    """The first image a page links to that Discord takes as an embed image."""
    for index in on_page:
        if index < len(image_urls) and (url := embed_url(image_urls[index])) is not None:
            return url
    return None


# ---------------------------------------------------------------------------------------------
# Lists of summaries (search results, latest, top)


@dataclass(frozen=True, slots=True)
class ListedSummary:
    """One line of a result list. `excerpt` is Discord Markdown, already made safe."""

    summary_id: int
    title: str
    author: str
    score: int
    url: str | None
    excerpt: str
    origin: str = "feed"
    when: datetime | None = None
    # How `when` is shown: a Discord timestamp style ("d" a date, "R" "3 days ago").
    when_style: TimestampStyle = "d"
    # 'abstract': the paper's abstract (an arXiv entry), labelled as such; `author` then
    # holds the paper's authors.
    kind: str = "summary"

    @property
    def byline(self) -> str:
        """Who wrote it and its score, or for an abstract, the label with the authors."""
        if self.kind == "abstract":
            return abstract_label(self.author)
        return f"{self.author or 'Anonymous'} · {score_text(self.score)}"


_HEADING_LINE: Final = re.compile(r"(?m)^ {0,3}#{1,6}(?:[ \t].*)?$")


def summary_excerpt(markdown: str, limit: int = EXCERPT_CHARS) -> tuple[str, str]:
    """(Discord Markdown, plain text) of a summary's opening on one line, as search results
    show it (`bot.search.excerpt`): math in Unicode and whole, Markdown and HTML dropped,
    the rest shown literally, mentions inert."""
    # Headings (often the paper's title again) say little in a one-line excerpt.
    source = _HEADING_LINE.sub("", markdown[: limit * 8])
    opening = fragment([source if source.strip() else markdown[: limit * 8]], None)
    return render_excerpt(opening, limit)


def plain_excerpt(markdown: str, limit: int = EXCERPT_CHARS) -> str:
    """A summary's opening on one line as plain text (see `summary_excerpt`)."""
    return summary_excerpt(markdown, limit)[1]


def listed_from_summary(summary: Summary, *, when_style: TimestampStyle = "d") -> ListedSummary:
    """A list line for a stored summary, dated by its publication; its excerpt is the TL;DR
    or the body's opening."""
    excerpt, _ = summary_excerpt(summary.tldr if summary.tldr.strip() else summary.body)
    return ListedSummary(
        summary_id=summary.id,
        title=summary_title(summary),
        author=paper_authors_of(summary) if summary.is_abstract else summary.author_name,
        score=summary.score,
        url=primary_url(summary),
        excerpt=excerpt,
        origin=summary.origin,
        when=summary.created_at,
        when_style=when_style,
        kind=summary.kind,
    )


def listed_line(item: ListedSummary, rank: int) -> str:
    """`**3.** [Title](url) — Author · ▲ 12 · #41` and the excerpt below it."""
    title = inline_title(item.title, 110).replace("[", "(").replace("]", ")")
    heading = f"[{title}]({item.url})" if item.url and is_markdown_safe_url(item.url) else title
    if item.kind == "abstract":
        meta = [inline_text(abstract_label(item.author), 90)]
    else:
        meta = [inline_text(item.author or "Anonymous", 60), score_text(item.score)]
    if item.origin == "community":
        meta.append("this server")
    if item.when is not None:
        meta.append(discord.utils.format_dt(item.when, item.when_style))
    meta.append(f"#{item.summary_id}")
    line = f"**{rank}.** {heading}\n{' · '.join(meta)}"
    if item.excerpt:
        line += f"\n> {item.excerpt}"
    return line


def results_embed(
    items: Sequence[ListedSummary],
    *,
    title: str,
    first_rank: int = 1,
    footer: str = "",
    description_prefix: str = "",
) -> discord.Embed:
    """A page of a result list, ranked from `first_rank`. Lines that would not fit the
    description are left for the footer to count (callers page 5 at a time, which fits)."""
    lines: list[str] = []
    budget = DESCRIPTION_LIMIT - len(description_prefix) - 2
    for offset, item in enumerate(items):
        line = listed_line(item, first_rank + offset)
        if sum(len(kept) + 2 for kept in lines) + len(line) > budget:
            break
        lines.append(line)
    description = description_prefix + ("\n\n" if description_prefix and lines else "")
    description += "\n\n".join(lines)
    embed = discord.Embed(
        title=shorten(" ".join(clean_user_text(title).split()), TITLE_LIMIT),
        description=description or None,
        colour=BRAND_COLOUR,
    )
    if footer:
        embed.set_footer(text=shorten(footer, 2048))
    return embed


def select_option_texts(item: ListedSummary, rank: int) -> tuple[str, str]:
    """(label, description) for a select option that opens a listed summary."""
    label = plain_text(f"{rank}. {title_text(item.title)}", SELECT_TEXT_LIMIT)
    number = f" · #{item.summary_id}"
    description = plain_text(item.byline, SELECT_TEXT_LIMIT - len(number)) + number
    return label, description


# ---------------------------------------------------------------------------------------------
# The paper card


# Where ShortScience (and so this card) says an arXiv paper without a journal reference is.
ARXIV_VENUE: Final = "arXiv e-Print archive"
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def abstract_text(paper: Paper, *, marks: bool = False) -> str:
    """The abstract on one line, its LaTeX math as Unicode (as `/summary view` renders it);
    with `marks`, each formula marked as a unit the page breaker keeps whole."""
    flat = " ".join(clean_user_text(paper.abstract or "").split())
    return convert_math_in_text(flat, marks=marks).strip() if flat else ""


def abstract_is_long(paper: Paper) -> bool:
    return len(abstract_text(paper)) > SHORT_ABSTRACT_CHARS


def shown_abstract(paper: Paper, limit: int) -> str:
    """The abstract as the paper card shows it, at most `limit` characters: shortened at a
    sentence or word break (never inside a formula) and ending with `…` when it is."""
    marked = neutralize_mentions(escape_markdown(abstract_text(paper, marks=True)))
    if len(strip_marks(marked)) <= limit:
        return strip_marks(marked)
    if limit < 2:
        return ""
    opening = split_pages(marked, limit - 1)[0]
    return strip_marks(opening).rstrip() + "…"


def paper_venue(paper: Paper) -> str | None:
    """The journal or conference, or for an arXiv paper without one, arXiv itself."""
    if paper.venue and paper.venue.strip():
        return paper.venue
    return ARXIV_VENUE if paper.arxiv_id else None


def format_published(published: str | None) -> str | None:
    """'2015-02-11' as '11 Feb 2015', '2015-05' as 'May 2015', '2015' as '2015'."""
    parts = (published or "").split("-")
    if not parts[0].isdigit():
        return None
    try:
        numbers = [int(part) for part in parts[:3]]
    except ValueError:
        return parts[0]
    if len(numbers) >= 2 and 1 <= numbers[1] <= 12:
        month = _MONTHS[numbers[1] - 1]
        if len(numbers) == 3:
            return f"{numbers[2]} {month} {numbers[0]}"
        return f"{month} {numbers[0]}"
    return str(numbers[0])


def _paper_heading(paper: Paper) -> str:
    """Authors; venue and year; first publication and categories: ShortScience's header."""
    lines = []
    if paper.authors.strip():
        lines.append("*" + inline_text(paper.authors, 400) + "*")
    venue = paper_venue(paper)
    venue_year = " · ".join(
        part
        for part in (
            inline_text(venue, 150) if venue else "",
            str(paper.year) if paper.year else "",
        )
        if part
    )
    if venue_year:
        lines.append(venue_year)
    facts = []
    published = format_published(paper.published)
    if published and published != str(paper.year):
        facts.append(f"First published {published}")
    if paper.categories:
        facts.append("Categories: " + inline_text(", ".join(paper.categories), 200))
    if facts:
        lines.append(" · ".join(facts))
    return "\n".join(lines)


def _summaries_field(summaries: Sequence[Summary]) -> EmbedField:
    """The paper's summaries, one line each, as many as fit one field."""
    name = f"Summaries ({len(summaries)})"
    if not summaries:
        return EmbedField(name, "No summaries here yet.")
    lines: list[str] = []
    used = 0
    for rank, summary in enumerate(summaries, start=1):
        tldr = summary.tldr.strip() or summary.body
        excerpt = summary_excerpt(tldr, 70)[0] if tldr.strip() else ""
        line = (
            f"**{rank}.** {inline_text(summary.author_name or 'Anonymous', 50)} · "
            f"{score_text(summary.score)} · #{summary.id}"
            + (" · this server" if summary.origin == "community" else "")
            + (f" — {excerpt}" if excerpt else "")
        )
        rest = len(summaries) - rank
        reserve = len(f"\n…and {rest} more") if rest else 0
        if used + len(line) + 1 + reserve > FIELD_VALUE_LIMIT:
            lines.append(f"…and {len(summaries) - rank + 1} more")
            break
        lines.append(line)
        used += len(line) + 1
    return EmbedField(name, "\n".join(lines))


def paper_card(
    paper: Paper,
    summaries: Sequence[Summary],
    *,
    expanded: bool = False,
    fetching: Sequence[str] = (),
) -> discord.Embed:
    """What ShortScience's paper page shows: title, authors, venue and year, first publication
    and categories, the abstract with its math as Unicode (shortened unless `expanded`),
    links, and the paper's summaries with author and score.

    `fetching` names the services still to be asked about the paper ("arXiv", "Crossref"):
    while it lacks authors or an abstract, the footer says they are on their way.
    """
    heading = _paper_heading(paper)
    links = format_links(paper_links(paper))
    summaries_field = _summaries_field(summaries)
    title = shorten(title_text(paper_title(paper)), TITLE_LIMIT)
    footer_parts = [paper_id.display for paper_id in paper.ids]
    if fetching and (not paper.authors.strip() or not (paper.abstract or "").strip()):
        footer_parts.append("authors and abstract on their way from " + " and ".join(fetching))
    footer = shorten(" · ".join(footer_parts), 2048)
    fixed = len(heading) + len(links) + 4 + len(title) + len(footer)
    fixed += len(summaries_field.name) + len(summaries_field.value)
    # Room for the abstract in the description and within the 6000-character total.
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - 100) - fixed
    abstract = shown_abstract(paper, room if expanded else min(room, SHORT_ABSTRACT_CHARS))
    parts = [part for part in (heading, abstract, links) if part]
    embed = discord.Embed(
        title=title,
        url=next((link.url for link in paper_links(paper)), None),
        description="\n\n".join(parts) or None,
        colour=BRAND_COLOUR,
    )
    embed.add_field(name=summaries_field.name, value=summaries_field.value, inline=False)
    if footer:
        embed.set_footer(text=footer)
    return embed


def embed_length(embed: discord.Embed) -> int:
    """What Discord counts against the 6000-character limit (for tests and callers)."""
    return len(embed)
