"""Paged messages: one embed per page, and the equation card a page attaches.

Shared by `/summary view`, the `/summarize` preview, posted community summaries and the
reading-session digest, so each shows a summary's display equations the same way: typeset
on a PNG card attached to the page's message (`equations-<page>.png`, alt text the
equations' Unicode forms) and used as its embed image. Turning the page replaces the
attachment (a page without equations sends none), so a message never piles up cards.

`math="text"` (or no typesetter, `MATH_WORKERS=0`) gives the text-only pages: equations in
Unicode, no numbers, no cards.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import discord

from bot.community.reading import digest_embeds, digest_pages, digest_text
from bot.presenters import (
    SummaryPages,
    equation_card_filename,
    render_summary_text,
    summary_pages,
)
from bot.rendering.equation_pages import PageEquations
from bot.rendering.equations import DisplayEquation
from bot.rendering.markdown import RenderedSummary
from bot.rendering.pages import DEFAULT_PAGE_CHARS
from bot.storage.papers import Paper
from bot.storage.reading import Submission
from bot.storage.summaries import Summary
from bot.typeset.layout import Drawing
from bot.typeset.service import Typesetter
from bot.typeset.style import DEFAULT_STYLE

MathMode = Literal["image", "text"]


@dataclass(slots=True)
class PageMessage:
    """What one page sends: its embed and the files it attaches (new each time: a
    `discord.File` can be sent once)."""

    embed: discord.Embed
    files: list[discord.File] = field(default_factory=list)


class PagedMessages:
    """Pages of embeds, each with the equations its card shows (cards made when shown)."""

    def __init__(
        self,
        embeds: Sequence[discord.Embed],
        *,
        equations: Sequence[PageEquations | None] = (),
        fallback_images: Sequence[str | None] = (),
        typesetter: Typesetter | None = None,
        image_urls: Sequence[str] = (),
    ) -> None:
        if not embeds:
            raise ValueError("a paged message needs at least one page")
        self.embeds = list(embeds)
        self.equations = list(equations) + [None] * (len(self.embeds) - len(equations))
        self.fallback_images = list(fallback_images) + [None] * (
            len(self.embeds) - len(fallback_images)
        )
        self.typesetter = typesetter
        self.image_urls = tuple(image_urls)

    @property
    def count(self) -> int:
        return len(self.embeds)

    @property
    def has_cards(self) -> bool:
        return self.typesetter is not None and any(self.equations)

    async def page(self, index: int) -> PageMessage:
        """The embed of page `index` (0-based) and its card, made or read from the cache.

        When the card cannot be made the page shows its equations in Unicode only (they
        are in its text) and its usual image, if any."""
        embed = self.embeds[index]
        equations = self.equations[index]
        if equations is None or self.typesetter is None:
            return PageMessage(embed)
        png = await self.typesetter.card(equations.sources, equations.numbers)
        if png is None:
            embed = embed.copy()
            embed.set_image(url=self.fallback_images[index])
            return PageMessage(embed)
        card = discord.File(
            io.BytesIO(png),
            filename=equation_card_filename(index + 1),
            description=equations.alt_text,
        )
        return PageMessage(embed, [card])


async def summary_messages(
    summary: Summary,
    typesetter: Typesetter | None,
    *,
    math: MathMode = "image",
    page_chars: int = DEFAULT_PAGE_CHARS,
) -> PagedMessages:
    """A summary's pages as `/summary view` shows them (rendering off the event loop), at
    most `page_chars` characters of text each (`SUMMARY_PAGE_CHARS`)."""
    cards = typesetter is not None and math == "image"
    style = typesetter.style if typesetter is not None else DEFAULT_STYLE

    def paged(rendered: RenderedSummary, drawings: Sequence[Drawing | None] = ()) -> SummaryPages:
        return summary_pages(
            summary, rendered=rendered, drawings=drawings, style=style, page_chars=page_chars
        )

    def render() -> tuple[RenderedSummary, SummaryPages | None]:
        rendered = render_summary_text(summary, collect_equations=cards)
        if not rendered.equations:
            return rendered, paged(rendered)
        # A summary viewed lately has its drawings in memory: plan its pages right away.
        assert typesetter is not None
        drawings = typesetter.remembered_drawings([e.source for e in rendered.equations])
        if drawings is None:
            return rendered, None  # planned once the equations are typeset
        return rendered, paged(rendered, drawings)

    rendered, pages = await asyncio.to_thread(render)
    if pages is None:
        assert typesetter is not None
        drawings = await typesetter.drawings([equation.source for equation in rendered.equations])
        pages = await asyncio.to_thread(paged, rendered, drawings)
    return PagedMessages(
        pages.embeds,
        equations=pages.equations,
        fallback_images=pages.fallback_images,
        typesetter=typesetter if cards else None,
        image_urls=pages.image_urls,
    )


async def digest_messages(
    paper: Paper, submissions: list[Submission], typesetter: Typesetter | None
) -> PagedMessages:
    """A reading session's digest, one message per page, display equations on cards."""
    equations: list[DisplayEquation] | None = [] if typesetter is not None else None
    text = await asyncio.to_thread(digest_text, submissions, equations)
    drawings = []
    if typesetter is not None and equations:
        drawings = await typesetter.drawings([equation.source for equation in equations])
    style = typesetter.style if typesetter is not None else DEFAULT_STYLE
    pages = await asyncio.to_thread(
        lambda: digest_pages(
            paper,
            submissions,
            equations=equations or (),
            drawings=drawings,
            text=text,
            style=style,
        )
    )
    return PagedMessages(
        digest_embeds(pages),
        equations=[page.equations for page in pages],
        typesetter=typesetter,
    )
