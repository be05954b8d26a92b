"""Exporting a guild's community summaries as Markdown or JSON, and reading them back.

The Markdown file is meant for people (paper headings, bylines, the summaries as written)
and still parses back exactly: each summary starts with an HTML comment holding its fields
as JSON, and its body sits between `<!-- body -->` and `<!-- /body -->` markers whose length
is recorded, so a body that happens to contain the markers cannot confuse the reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.rendering.text import plural
from bot.storage.community import CommunityRepository, CommunitySummary
from bot.storage.database import Database

ExportFormat = Literal["markdown", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("markdown", "json")
FORMAT_VERSION = 1

_HEADER = re.compile(r"\A<!-- shortscience-bot export (\{.*?\}) -->\n")
_SUMMARY = re.compile(r"^<!-- summary (\{.*\}) -->$", re.MULTILINE)
_BODY_START = "<!-- body -->\n"
_BODY_END = "\n<!-- /body -->"


class ExportFormatError(ValueError):
    """The text is not an export this module wrote."""


@dataclass(frozen=True, slots=True)
class ExportedPaper:
    title: str
    authors: str
    year: int | None
    venue: str | None
    arxiv_id: str | None
    doi: str | None
    bibtex_key: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class ExportedSummary:
    id: int
    paper: ExportedPaper
    author_name: str
    author_discord_id: int
    tldr: str
    body: str
    score: int
    created_at: str  # ISO 8601, UTC
    edited_at: str


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def exported(summary: CommunitySummary) -> ExportedSummary:
    return ExportedSummary(
        id=summary.id,
        paper=ExportedPaper(
            title=summary.display_title,
            authors=summary.paper_authors,
            year=summary.paper_year,
            venue=summary.paper_venue,
            arxiv_id=summary.arxiv_id,
            doi=summary.doi,
            bibtex_key=summary.bibtex_key,
            url=summary.paper_url,
        ),
        author_name=summary.author_name,
        author_discord_id=summary.author_id,
        tldr=summary.tldr,
        body=summary.body,
        score=summary.score,
        created_at=_iso(summary.created_at),
        edited_at=_iso(summary.edited_at),
    )


def _comment_json(value: dict[str, Any]) -> str:
    # JSON inside an HTML comment: escape what could end the comment early.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _one_line(text: str) -> str:
    return _inert(" ".join(text.split()))


def _inert(text: str) -> str:
    # Shown text never opens an HTML comment, so it cannot pass for one of the markers; the
    # exact values are in each summary's JSON comment anyway.
    return text.replace("<!--", "<!\u2060--")


def to_json(guild_id: int, summaries: list[ExportedSummary], *, exported_at: str) -> bytes:
    document = {
        "format": "shortscience-bot community export",
        "version": FORMAT_VERSION,
        "guild_id": guild_id,
        "exported_at": exported_at,
        "summaries": [asdict(summary) for summary in summaries],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def to_markdown(guild_id: int, summaries: list[ExportedSummary], *, exported_at: str) -> bytes:
    header = {"version": FORMAT_VERSION, "guild_id": guild_id, "exported_at": exported_at}
    parts = [
        f"<!-- shortscience-bot export {_comment_json(header)} -->\n",
        "# Community summaries\n\n",
        f"{plural(len(summaries), 'summary')}, exported {exported_at}.\n",
    ]
    for summary in summaries:
        meta = asdict(summary)
        body = meta.pop("body")
        meta["body_length"] = len(body)
        paper = summary.paper
        heading = _one_line(paper.title) or "Untitled paper"
        if paper.url:
            heading = f"[{heading}]({_inert(paper.url)})"
        details = [
            _one_line(paper.authors),
            str(paper.year or ""),
            f"arXiv:{paper.arxiv_id}" if paper.arxiv_id else "",
            f"doi:{paper.doi}" if paper.doi else "",
        ]
        parts.append("\n---\n\n")
        parts.append(f"<!-- summary {_comment_json(meta)} -->\n")
        parts.append(f"## {heading}\n\n")
        if any(details):
            parts.append(" · ".join(d for d in details if d) + "\n\n")
        parts.append(
            f"**Summary by {_one_line(summary.author_name)}** · score {summary.score} · "
            f"{summary.edited_at[:10]}\n\n"
        )
        if summary.tldr:
            lines = _inert(summary.tldr).split("\n")
            quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
            parts.append(f"> **TL;DR**\n{quoted}\n\n")
        parts.append(_BODY_START + body + _BODY_END + "\n")
    return "".join(parts).encode("utf-8")


def render_export(guild_id: int, summaries: list[ExportedSummary], fmt: ExportFormat) -> bytes:
    exported_at = datetime.now(UTC).isoformat(timespec="seconds")
    if fmt == "json":
        return to_json(guild_id, summaries, exported_at=exported_at)
    if fmt == "markdown":
        return to_markdown(guild_id, summaries, exported_at=exported_at)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")


@dataclass(frozen=True, slots=True)
class GuildExport:
    data: bytes  # the file
    summaries: int  # how many summaries it holds (read with them, so always its count)


async def export_guild(db: Database, guild_id: int, fmt: ExportFormat) -> GuildExport:
    """This guild's visible community summaries with their papers and scores, as a file."""
    rows = await CommunityRepository(db).for_export(guild_id)
    return GuildExport(render_export(guild_id, [exported(row) for row in rows], fmt), len(rows))


def export_filename(guild_id: int, fmt: ExportFormat, *, today: datetime | None = None) -> str:
    day = (today or datetime.now(UTC)).strftime("%Y-%m-%d")
    return f"shortscience-community-{guild_id}-{day}.{'md' if fmt == 'markdown' else 'json'}"


def _summary_from_dict(data: dict[str, Any]) -> ExportedSummary:
    try:
        paper = ExportedPaper(**data["paper"])
        return ExportedSummary(**{**data, "paper": paper})
    except (KeyError, TypeError) as exc:
        raise ExportFormatError(f"a summary entry is incomplete: {exc}") from exc


def parse_json_export(data: bytes) -> tuple[int, list[ExportedSummary]]:
    """(guild id, summaries) from a JSON export."""
    try:
        document = json.loads(data.decode("utf-8"))
        return int(document["guild_id"]), [_summary_from_dict(s) for s in document["summaries"]]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ExportFormatError(f"not a JSON export: {exc}") from exc


def parse_markdown_export(data: bytes) -> tuple[int, list[ExportedSummary]]:
    """(guild id, summaries) from a Markdown export, bodies byte for byte as exported."""
    text = data.decode("utf-8")
    header = _HEADER.match(text)
    if header is None:
        raise ExportFormatError("not a shortscience-bot Markdown export (no header comment)")
    guild_id = int(json.loads(header.group(1))["guild_id"])
    summaries = []
    position = header.end()
    while True:
        match = _SUMMARY.search(text, position)
        if match is None:
            break
        meta = json.loads(match.group(1))
        body_length = int(meta.pop("body_length"))
        start = text.find(_BODY_START, match.end())
        if start < 0:
            raise ExportFormatError(f"summary {meta.get('id')} has no body marker")
        start += len(_BODY_START)
        end = start + body_length
        if text[end : end + len(_BODY_END)] != _BODY_END:
            raise ExportFormatError(f"summary {meta.get('id')}'s body does not end where expected")
        summaries.append(_summary_from_dict({**meta, "body": text[start:end]}))
        position = end + len(_BODY_END)
    return guild_id, summaries
