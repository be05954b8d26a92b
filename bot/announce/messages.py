"""What announcements look like: the summary embed, overflow and notice messages.

Everything a feed supplies is untrusted text. Nothing here can ping anyone except a
subscription's own role: every message carries explicit `allowed_mentions`. Each message
has its buttons (`bot.announce.components`): Read under a summary (and 👍 / 👎 under a
community one), Latest under an overflow line, Resume under a paused-feed notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord

from bot.announce.components import latest_buttons, resume_buttons, summary_buttons
from bot.rendering import (
    display_pages,
    escape_markdown,
    render_inline_text,
    render_summary,
    shorten,
)
from bot.rendering.text import plural
from bot.rendering.units import strip_marks
from bot.rendering.urls import embed_url, is_markdown_safe_url
from bot.storage.outbox import AnnouncedSummary

EMBED_COLOUR = 0x2B6CB0
TEST_COLOUR = 0xD69E2E
# How much of a summary an announcement shows; its Read button shows the rest.
EXCERPT_CHARS = 700
# The footer of a community summary's announcement (feed ones name their feed).
COMMUNITY_SOURCE = "New community summary"
# The author line of an abstract's announcement: the entry is a paper, not a summary of one.
NEW_PAPER = "New paper"
ANNOUNCEMENTS_PER_POLL = 5


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """The arguments of one `channel.send`."""

    content: str | None
    embed: discord.Embed | None
    allowed_mentions: discord.AllowedMentions
    view: discord.ui.View | None = None

    def send_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `Messageable.send` (which takes no `embed=None`)."""
        arguments: dict[str, Any] = {
            "content": self.content,
            "allowed_mentions": self.allowed_mentions,
        }
        if self.embed is not None:
            arguments["embed"] = self.embed
        if self.view is not None:
            arguments["view"] = self.view
        return arguments


def role_mentions(role_id: int | None) -> discord.AllowedMentions:
    """Allow exactly the subscription's role to be pinged, never @everyone or anyone else."""
    if role_id is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(id=role_id)], replied_user=False
    )


def excerpt(markdown: str, limit: int = EXCERPT_CHARS) -> str:
    """The opening of a summary rendered for Discord as `/summary view` renders it (math in
    Unicode), cut where a page of it would end (a paragraph, line or sentence break, never
    inside a formula, code block or table), with an ellipsis when something was left out."""
    rendered = render_summary(markdown)
    if len(rendered.text) <= limit:
        return rendered.text.strip()
    opening = display_pages(rendered.marked, limit - 2)[0]
    return strip_marks(opening).rstrip() + "\n…"


def byline(summary: AnnouncedSummary) -> str:
    """Authors and venue/year, as far as they are known (an abstract's entry names the
    paper's authors itself)."""
    parts = []
    authors = summary.paper_authors or (summary.author_name if summary.is_abstract else None)
    if authors:
        parts.append(shorten(render_inline_text(authors), 300))
    venue = " ".join(str(p) for p in (summary.venue, summary.year) if p)
    if venue:
        parts.append(render_inline_text(venue))
    return " · ".join(parts)


def summary_embed(
    summary: AnnouncedSummary, *, source_name: str, test: bool = False
) -> discord.Embed:
    """The announcement card: paper title linking to the summary, who wrote it, its score,
    the TL;DR (or the first lines), and where it came from. An abstract (an arXiv entry) is a
    paper, not a summary: "New paper", its authors and the opening of its abstract, and no
    author or score of a summary."""
    title = render_inline_text(summary.title, markdown=False) or "Untitled"
    embed = discord.Embed(
        title=shorten(("[Test] " if test else "") + title, 256),
        url=embed_url(summary.url) or embed_url(summary.paper_url),
        colour=TEST_COLOUR if test else EMBED_COLOUR,
        timestamp=datetime.fromtimestamp(summary.created_at, tz=UTC),
    )
    if summary.is_abstract:
        embed.set_author(name=NEW_PAPER)
    else:
        author = render_inline_text(summary.author_name, markdown=False) or "Anonymous"
        embed.set_author(name=shorten(f"Summary by {author}", 256))
    lines = []
    if line := byline(summary):
        lines.append(f"*{line}*")
    if summary.is_abstract:
        text, label = excerpt(summary.body), "**Abstract** "
    elif summary.tldr.strip():
        text, label = excerpt(summary.tldr), "**TL;DR** "
    else:
        text, label = excerpt(summary.body), ""
    if text:
        if lines:
            lines.append("")
        lines.append(label + text)
    embed.description = shorten("\n".join(lines), 4096) or None
    if not summary.is_abstract:
        embed.add_field(name="Score", value=f"▲ {summary.score}", inline=True)
    source = shorten(render_inline_text(source_name, markdown=False), 200)
    embed.set_footer(text=source + (" · test announcement" if test else ""))
    return embed


def summary_message(
    summary: AnnouncedSummary,
    *,
    source_name: str,
    mention_role_id: int | None,
    test: bool = False,
    marker: str | None = None,
    headline: str | None = None,
    embed: discord.Embed | None = None,
) -> OutgoingMessage:
    """A summary announcement: the card, Read (carrying the outbox `marker`), and 👍 / 👎
    for a community summary. `headline` is a line above the card ("📝 <member> wrote a
    summary."); `embed` is the card when it was rendered already. A test announcement is
    marked as such and pings nobody."""
    votes = (summary.votes_up, summary.votes_down) if summary.origin == "community" else None
    view = summary_buttons(summary.summary_id, marker=marker, votes=votes)
    if test:
        return OutgoingMessage(
            content="Test announcement: this is the newest entry of the feed, sent on request.",
            embed=embed or summary_embed(summary, source_name=source_name, test=True),
            allowed_mentions=discord.AllowedMentions.none(),
            view=view,
        )
    lines = [f"<@&{mention_role_id}>" if mention_role_id is not None else "", headline or ""]
    return OutgoingMessage(
        content="\n".join(line for line in lines if line) or None,
        embed=embed or summary_embed(summary, source_name=source_name),
        allowed_mentions=role_mentions(mention_role_id),
        view=view,
    )


def text_message(text: str, view: discord.ui.View | None = None) -> OutgoingMessage:
    """An overflow line or a notice: plain text that pings nobody."""
    return OutgoingMessage(
        content=shorten(text, 2000),
        embed=None,
        allowed_mentions=discord.AllowedMentions.none(),
        view=view,
    )


def overflow_message(text: str, *, marker: str | None = None) -> OutgoingMessage:
    """The "…and N more" line, with a button showing the latest summaries."""
    return text_message(text, latest_buttons(marker))


def notice_message(
    text: str, *, subscription_id: int | None, marker: str | None = None
) -> OutgoingMessage:
    """A paused-feed notice, with a button that resumes the subscription."""
    view = None if subscription_id is None else resume_buttons(subscription_id, marker)
    return text_message(text, view)


def published_headline(member_id: int, *, created: bool, paper_pending: bool = False) -> str:
    """The line above the card of a summary just published (the member shows as a mention,
    which pings nobody: the card allows no mentions)."""
    action = "wrote a summary" if created else "updated their summary"
    if paper_pending:
        action += " (the paper's details are still being fetched from arXiv)"
    return f"📝 <@{member_id}> {action}."


def edited_headline(editor_id: int, summary_id: int, *, by_author: bool) -> str:
    """The line above the card of a summary edited with `/summary edit`."""
    return f"✏️ <@{editor_id}> {'updated' if by_author else 'edited'} summary #{summary_id}."


def overflow_text(count: int, feed_name: str) -> str:
    return (
        f"…and {plural(count, 'more new summary')} from "
        f"**{escape_markdown(feed_name, line_start=False)}**: see them with `/latest`."
    )


def paused_notice_text(feed_name: str, feed_url: str, reason: str) -> str:
    """The notice a paused feed's channels get. The name, the address and the reason (an
    HTTP reason phrase, say) come from the feed's server: shown as text, never as links."""
    if is_markdown_safe_url(feed_url):
        address = f"<{feed_url}>"
    else:
        address = escape_markdown(shorten(feed_url, 300), line_start=False)
    return (
        f"⚠️ I paused the feed **{escape_markdown(feed_name, line_start=False)}** ({address}): "
        f"{escape_markdown(reason, line_start=False)}. Nothing from it will be announced until "
        "someone with Manage Server runs `/feed resume`."
    )
