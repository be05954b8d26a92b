"""Reading sessions, the Discord-free parts: opening one, due dates, the card, the reminder,
the digest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Final

import discord

from bot.community.resolve import PaperResolver, ResolvedPaper
from bot.community.title_search import PickerWording
from bot.community.votes import format_score
from bot.errors import UserFacingError
from bot.presenters import equation_card_filename, title_text
from bot.rendering.equation_pages import PlannedPage, plan_pages
from bot.rendering.equations import DisplayEquation
from bot.rendering.markdown import render_summary
from bot.rendering.pages import EmbedPage, paginate_for_embed
from bot.rendering.text import escape_markdown, neutralize_mentions, plural, shorten
from bot.rendering.units import take_images
from bot.rendering.urls import embed_url
from bot.storage.database import Database
from bot.storage.papers import Paper
from bot.storage.reading import ReadingRepository, ReadingSession, Submission
from bot.typeset.layout import Drawing
from bot.typeset.style import DEFAULT_STYLE, MathStyle

MAX_DUE_AHEAD = 366 * 86400.0
MIN_DUE_AHEAD = 60.0
ABSTRACT_CHARS = 1500
SESSION_COLOUR = 0x805AD5

_RELATIVE = re.compile(
    r"^(?:in\s+)?(\d{1,4})\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)$", re.I
)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

DUE_HELP = (
    "Give the due date as 2025-05-01 (end of that day, UTC), 2025-05-01 18:00 (UTC), or "
    "relative: 3d, 12h, 1w."
)


def parse_due(text: str, now: float) -> float:
    """A due date as Unix seconds, from what a member typed. Raises `UserFacingError`."""
    text = " ".join(text.strip().split())
    match = _RELATIVE.match(text)
    if match:
        amount = int(match.group(1))
        unit = match.group(2)[0].lower()
        due = now + amount * _UNIT_SECONDS[unit]
    else:
        try:
            if _DATE_ONLY.match(text):
                day = datetime.fromisoformat(text).date()
                moment = datetime.combine(day, time(23, 59), tzinfo=UTC)
            else:
                moment = datetime.fromisoformat(text.replace(" UTC", "").replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
        except ValueError:
            raise UserFacingError(f"I can't read that due date. {DUE_HELP}") from None
        due = moment.timestamp()
    if due < now + MIN_DUE_AHEAD:
        raise UserFacingError("The due date has to be in the future.")
    if due > now + MAX_DUE_AHEAD:
        raise UserFacingError("The due date can be at most a year from now.")
    return due


def discord_time(timestamp: float, style: str = "f") -> str:
    """Discord's own timestamp markup: every reader sees it in their time zone."""
    return f"<t:{int(timestamp)}:{style}>"


def paper_reference(paper: Paper) -> str:
    """What to type in `/summarize paper:` for this paper."""
    ids = paper.ids
    return ids[0].display if ids else paper.title


EMBED_FIELD_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class KnownSummary:
    """A summary the session's paper already had when the session started, and where to
    read it: the message it was posted in here (when known) and its own page."""

    summary_id: int
    author_name: str
    score: int
    message_url: str | None = None
    page_url: str | None = None


def _web_url(url: str | None) -> str | None:
    """`url` when it can sit in a Markdown link (http(s), nothing that ends the link)."""
    if url and url.startswith(("https://", "http://")) and not any(c in url for c in " ()<>"):
        return url
    return None


def known_summary_line(summary: KnownSummary) -> str:
    """`• **Alice** (score +3): [jump to it](…) · [ShortScience](…) · `/summary view id:12``"""
    name = escape_markdown(neutralize_mentions(shorten(summary.author_name, 60)))
    ways = []
    if url := _web_url(summary.message_url):
        ways.append(f"[jump to it]({url})")
    if url := _web_url(summary.page_url):
        ways.append(f"[on ShortScience]({url})")
    ways.append(f"`/summary view id:{summary.summary_id}`")
    return f"• **{name}** (score {format_score(summary.score)}): " + " · ".join(ways)


def known_summaries_field(known: Sequence[KnownSummary], paper: Paper) -> tuple[str, str]:
    """(name, value) of the card's field listing the summaries already written, best first,
    as many as fit one field, then where to find the rest."""
    name = f"Already summarised ({len(known)})"
    reference = shorten(paper_reference(paper), 100)
    lines: list[str] = []
    used = 0
    for index, summary in enumerate(known):
        line = known_summary_line(summary)
        # Unless this is the last line, keep room for "…and N more: `/paper id:…`".
        room = 0 if index == len(known) - 1 else 30 + len(reference)
        if used + len(line) + room > EMBED_FIELD_LIMIT:
            lines.append(f"…and {len(known) - index} more: `/paper id:{reference}`")
            break
        lines.append(line)
        used += len(line) + 1
    return name, "\n".join(lines)


def session_card(
    paper: Paper,
    *,
    due_at: float | None,
    started_by: int,
    pending: bool = False,
    known: Sequence[KnownSummary] = (),
) -> discord.Embed:
    """The card pinned at the top of a session's thread: the paper, how to take part, the
    due date, and the summaries the paper already has."""
    title = neutralize_mentions(title_text(paper.title)) or paper.canonical_key
    embed = discord.Embed(
        title=shorten(title, 256),
        url=embed_url(paper.url),
        colour=SESSION_COLOUR,
    )
    lines = []
    byline = " · ".join(
        part
        for part in (escape_markdown(neutralize_mentions(paper.authors)), str(paper.year or ""))
        if part
    )
    if byline:
        lines.append(f"*{shorten(byline, 500)}*")
    if pending:
        lines.append("*Paper details are still being fetched from arXiv.*")
    if paper.abstract:
        lines.append("")
        lines.append(escape_markdown(neutralize_mentions(shorten(paper.abstract, ABSTRACT_CHARS))))
    lines.append("")
    reference = paper_reference(paper)
    lines.append(
        f"Write your summary with `/summarize paper:{shorten(reference, 200)}`; "
        "`/reading status` shows who has."
    )
    embed.description = "\n".join(lines)
    embed.add_field(
        name="Due",
        value=f"{discord_time(due_at, 'F')} ({discord_time(due_at, 'R')})"
        if due_at
        else "No due date",
        inline=True,
    )
    embed.add_field(name="Started by", value=f"<@{started_by}>", inline=True)
    links = []
    if paper.url and paper.url.startswith(("http://", "https://")):
        links.append(f"[Paper]({paper.url})")
    if paper.pdf_url and paper.pdf_url.startswith(("http://", "https://")):
        links.append(f"[PDF]({paper.pdf_url})")
    if links:
        embed.add_field(name="Links", value=" · ".join(links), inline=True)
    if known:
        name, value = known_summaries_field(known, paper)
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text="Reading session")
    return embed


def role_prefix(role_id: int | None) -> str:
    """The mention that opens a session's card and reminder when it has a role."""
    return "" if role_id is None else f"<@&{role_id}> "


def card_content(paper: Paper, *, due_at: float | None, role_id: int | None) -> str | None:
    """The words above the card: the role's invitation, when the session has a role."""
    if role_id is None:
        return None
    title = escape_markdown(
        neutralize_mentions(shorten(title_text(paper.title) or paper.canonical_key, 200))
    )
    due = f" Summaries are due {discord_time(due_at, 'R')}." if due_at else ""
    return f"{role_prefix(role_id)}📖 A reading session on **{title}** has started.{due}"


def _names(submissions: list[Submission]) -> str:
    return ", ".join(
        escape_markdown(neutralize_mentions(shorten(s.author_name, 60))) for s in submissions
    )


def reminder_text(session: ReadingSession, paper: Paper, submissions: list[Submission]) -> str:
    assert session.due_at is not None
    title = escape_markdown(
        neutralize_mentions(shorten(title_text(paper.title) or paper.canonical_key, 200))
    )
    written = (
        f"{len(submissions)} written so far, by {_names(submissions)}."
        if submissions
        else "None written yet."
    )
    text = (
        f"{role_prefix(session.mention_role_id)}"
        f"⏰ Reminder: summaries of **{title}** are due {discord_time(session.due_at, 'R')} "
        f"({discord_time(session.due_at, 'f')}). {written} Write yours with "
        f"`/summarize paper:{shorten(paper_reference(paper), 200)}`."
    )
    return shorten(text, 2000)


def status_lines(session: ReadingSession, submissions: list[Submission]) -> list[str]:
    lines = [
        "Due: "
        + (
            f"{discord_time(session.due_at, 'F')} ({discord_time(session.due_at, 'R')})"
            if session.due_at
            else "no due date"
        ),
        f"Thread: <#{session.thread_id}> · started {discord_time(session.started_at, 'R')}",
        "",
    ]
    if submissions:
        lines.append(f"**{len(submissions)} submitted:**")
        lines += [
            f"• {escape_markdown(neutralize_mentions(shorten(s.author_name, 60)))} "
            f"(summary #{s.summary_id}, score {format_score(s.score)})"
            for s in submissions
        ]
    else:
        lines.append("Nobody has submitted a summary yet.")
    return lines


def digest_text(submissions: list[Submission], equations: list[DisplayEquation] | None) -> str:
    """Every summary written in the session, best score first, with its TL;DR rendered
    (math included; display equations collected into `equations` when it is a list)."""
    if not submissions:
        return "No summaries were written during this session."
    blocks = []
    for rank, submission in enumerate(submissions, start=1):
        name = escape_markdown(neutralize_mentions(shorten(submission.author_name, 80)))
        # Formulas kept whole by the page breaker; images stay links (each TL;DR numbers its
        # own images, so their anchors would clash).
        tldr = take_images(render_summary(submission.tldr, equations=equations).marked)[0]
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in tldr.split("\n"))
        blocks.append(
            f"**{rank}. {name}** · score {format_score(submission.score)} · "
            f"`/summary view id:{submission.summary_id}`\n{quoted}"
        )
    return "\n\n".join(blocks)


def digest_pages(
    paper: Paper,
    submissions: list[Submission],
    *,
    equations: Sequence[DisplayEquation] = (),
    drawings: Sequence[Drawing | None] = (),
    text: str | None = None,
    style: MathStyle = DEFAULT_STYLE,
) -> list[PlannedPage]:
    """The digest's pages. `text` is `digest_text(...)` when its equations were collected
    (and typeset into `drawings`); otherwise it is rendered here without cards."""
    if text is None:
        text = digest_text(submissions, None)
    count = len(submissions)

    def paginate(body: str, breaks: Sequence[int]) -> list[EmbedPage]:
        return paginate_for_embed(
            body,
            title=f"Digest: {title_text(paper.title or paper.canonical_key)}",
            footer_template=f"{plural(count, 'summary')} · reading session closed"
            " · page {page} of {pages}",
            breaks=breaks,
        )

    return plan_pages(text, equations, drawings, paginate, style)


def digest_embeds(pages: Sequence[PlannedPage]) -> list[discord.Embed]:
    embeds = []
    for planned in pages:
        page = planned.page
        embed = discord.Embed(
            title=page.title, description=page.description or None, colour=SESSION_COLOUR
        )
        embed.set_footer(text=page.footer)
        if planned.equations is not None:
            embed.set_image(url=f"attachment://{equation_card_filename(page.page)}")
        embeds.append(embed)
    return embeds


# The title picker of `/reading start` (a typed title no paper known here has exactly).
READING_WORDING: Final = PickerWording(
    new_paper_when="when the session starts",
    by_id_instead="run `/reading start` again with its arXiv id or link",
    correct_title="Check its spelling and run `/reading start` again",
    meanwhile="The session starts once its paper is picked, by whoever ran the command.",
)


def thread_name(paper: Paper) -> str:
    return shorten("📖 " + " ".join((title_text(paper.title) or paper.canonical_key).split()), 100)


async def start_session(
    db: Database,
    resolver: PaperResolver,
    resolved: ResolvedPaper,
    *,
    guild_id: int,
    channel_id: int,
    thread_id: int,
    started_by: int,
    started_at: float,
    due_at: float | None,
    mention_role_id: int | None = None,
) -> ReadingSession:
    """Store the paper (when it is new) and open its session, in one transaction.

    Raises `SessionAlreadyOpenError` when the paper already has an open session here.
    """
    async with db.transaction() as conn:
        paper_id = await resolver.store(resolved, guild_id=guild_id, conn=conn)
        return await ReadingRepository(db).create(
            guild_id=guild_id,
            paper_id=paper_id,
            channel_id=channel_id,
            thread_id=thread_id,
            started_by=started_by,
            started_at=started_at,
            due_at=due_at,
            mention_role_id=mention_role_id,
            conn=conn,
        )
