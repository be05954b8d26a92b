"""How community summaries look: exactly as `/summary view` shows any summary.

The pages come from `bot.paged.summary_messages` (shared with the search cog); this module
builds what it needs for a draft that is not stored yet, and marks preview pages as such in
their footer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import discord

from bot.paged import PagedMessages, summary_messages
from bot.rendering.pages import DEFAULT_PAGE_CHARS
from bot.storage.database import Database
from bot.storage.papers import Paper
from bot.storage.summaries import Summary, SummaryRepository
from bot.typeset import Typesetter

DRAFT_ID = 0


def draft_summary(
    *,
    paper: Paper,
    guild_id: int,
    author_id: int,
    author_name: str,
    title: str,
    tldr: str,
    body: str,
    existing_id: int | None = None,
    score: int = 0,
    now: float,
) -> Summary:
    """A summary that is not stored (yet), for its preview."""
    moment = datetime.fromtimestamp(now, UTC)
    return Summary(
        id=existing_id or DRAFT_ID,
        paper_id=paper.id,
        origin="community",
        guild_id=guild_id,
        author_name=author_name,
        author_discord_id=author_id,
        title=title,
        tldr=tldr,
        body=body,
        url=None,
        external_id=None,
        score=score,
        created_at=moment,
        edited_at=moment,
        deleted_at=None,
        paper=paper,
    )


def _mark_preview(embed: discord.Embed, summary: Summary) -> discord.Embed:
    footer = embed.footer.text or ""
    if summary.id == DRAFT_ID:
        footer = footer.replace(f"Summary #{DRAFT_ID}", "Preview, not published yet", 1)
    else:
        footer = "Preview of " + footer[0].lower() + footer[1:] if footer else "Preview"
    return embed.set_footer(text=footer)


async def summary_display(
    summary: Summary,
    typesetter: Typesetter | None,
    *,
    preview: bool = False,
    page_chars: int = DEFAULT_PAGE_CHARS,
) -> PagedMessages:
    """The pages as `/summary view` shows them, equation cards included (rendered off the
    event loop); preview pages say so in their footer."""
    pages = await summary_messages(summary, typesetter, page_chars=page_chars)
    if preview:
        pages.embeds = [_mark_preview(embed, summary) for embed in pages.embeds]
    return pages


async def stored_summary(db: Database, summary_id: int) -> Summary | None:
    """A stored summary with its paper, deleted or not (callers check visibility)."""
    return await SummaryRepository(db).get(summary_id, include_hidden=True)


def with_text(summary: Summary, *, tldr: str, body: str) -> Summary:
    return replace(summary, tldr=tldr, body=body)
